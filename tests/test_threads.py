"""One threading rule for every torch path: n_threads, the idle cores, torch restored."""

import os
import subprocess
import sys
import time

import joblib
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from sklearn_denoise import CNNDenoiser, _threads
from sklearn_denoise._threads import default_threads, resolve_threads, torch_threads

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.fixture(scope="module")
def den():
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(3, 32, 32)).astype(np.float32)
    return CNNDenoiser(depth=2, width=4, blocks=1, max_epochs=1, patch_size=16,
                       patches_per_image=1, train_sigma=0.1, random_state=0).fit(X), X


def _threads_inside(est, call):
    """torch's thread count while the network runs in ``call``."""
    seen = []
    handle = est.net_.module_.register_forward_hook(
        lambda *args: seen.append(torch.get_num_threads()))
    try:
        call()
    finally:
        handle.remove()
    return set(seen)


def test_calls_use_n_threads_and_restore_the_callers_setting(den):
    est, X = den
    before = torch.get_num_threads()
    est.set_params(n_threads=1)
    try:
        assert _threads_inside(est, lambda: est.transform(X)) == {1}
        assert torch.get_num_threads() == before
        assert _threads_inside(est, lambda: est.partial_fit(X)) == {1}
        assert torch.get_num_threads() == before
        est.set_params(n_threads=None)
        # training keeps torch's own count unless told (gradient sums depend on it)
        assert _threads_inside(est, lambda: est.partial_fit(X)) == {before}
        est.set_params(n_threads=1)
        assert _threads_inside(est, lambda: est.for_image(X[0])) <= {1}
        assert torch.get_num_threads() == before
    finally:
        est.set_params(n_threads=None)


def test_results_do_not_depend_on_the_thread_count(den):
    est, X = den
    outs = [est.set_params(n_threads=n).transform(X) for n in (1, 2)]
    est.set_params(n_threads=None)
    np.testing.assert_array_equal(*outs)


def test_training_weights_do_not_depend_on_the_machines_load(monkeypatch):
    """The same seed, the same weights, whatever the load (with 1 and 2 threads the
    gradient sums differ, so training does not follow the idle cores)."""
    X = np.random.RandomState(0).uniform(size=(3, 32, 32)).astype(np.float32)
    params = dict(depth=2, width=4, blocks=1, max_epochs=1, patch_size=16,
                  patches_per_image=2, train_sigma=0.1, random_state=0)
    states = []
    for busy in (0.0, CORES - 0.5):
        monkeypatch.setattr(_threads._OTHER_LOAD, "busy_cores", lambda busy=busy: busy)
        est = CNNDenoiser(**params).fit(X)
        states.append(est.net_.module_.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_default_is_the_idle_cores_at_most_torchs_setting(monkeypatch, den):
    est, X = den
    cap = torch.get_num_threads()
    monkeypatch.setattr(_threads._OTHER_LOAD, "busy_cores", lambda: 0.0)
    assert default_threads() == max(1, min(cap, CORES))
    monkeypatch.setattr(_threads._OTHER_LOAD, "busy_cores", lambda: CORES - 0.9)
    assert default_threads() == 1
    # a busy machine: the network runs on one thread
    assert _threads_inside(est, lambda: est.transform(X)) == {1}
    monkeypatch.setattr(_threads._OTHER_LOAD, "busy_cores", lambda: 0.3)
    assert default_threads() == max(1, min(cap, CORES))
    assert resolve_threads(3) == 3


def test_threadpoolctl_limits_are_honoured(monkeypatch, den):
    est, X = den
    monkeypatch.setattr(_threads._OTHER_LOAD, "busy_cores", lambda: 0.0)
    with threadpool_limits(limits=1, user_api="openmp"):
        assert default_threads() == 1
        assert _threads_inside(est, lambda: est.transform(X)) == {1}


def _worker_default_threads():
    from sklearn_denoise._threads import default_threads as rule

    return rule()


def test_joblib_workers_share_the_cores():
    """loky starts GridSearchCV(n_jobs=2)'s workers with their share of the cores in
    OMP_NUM_THREADS; the rule stays within it, so the workers do not oversubscribe."""
    results = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_worker_default_threads)() for _ in range(2))
    assert all(1 <= r <= max(1, CORES // 2) for r in results), results


def test_other_processes_load_is_measured():
    load = _threads._OtherLoad()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        load.busy_cores()
        time.sleep(0.5)
        assert load.busy_cores() >= 0.5
    finally:
        hog.kill()
        hog.wait()


def test_torch_threads_none_leaves_torch_alone():
    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_n_threads_is_validated(den):
    est, X = den
    with pytest.raises(ValueError, match="n_threads"):
        CNNDenoiser(n_threads=0).fit(X)
    with pytest.raises(ValueError, match="n_threads"):
        CNNDenoiser.pretrained("gray", n_threads=-1).transform(X)
