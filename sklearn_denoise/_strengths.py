"""How strongly the classical denoisers smooth for a noise level ``sigma`` when their
strength is left to the noise: TV weight, NL-means cut-off and bilateral colour spread
proportional to sigma. Read by the estimators (:mod:`sklearn_denoise._classical`) and by
the labels of the methods' table (:mod:`sklearn_denoise._methods`), which is built without
importing the estimators."""

TV_WEIGHT_PER_SIGMA = 0.9
NLM_H_PER_SIGMA = 0.8
BILATERAL_COLOR_PER_SIGMA = 1.5
