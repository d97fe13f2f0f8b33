"""The errors of reading and writing image files, shared by :mod:`sklearn_denoise._io`
and :mod:`sklearn_denoise._formats` (kept apart so that neither imports the other back)."""


class ImageFileError(ValueError):
    """An image file cannot be read: missing, unreadable, corrupt or unsupported."""


class ImageTooLargeError(ImageFileError):
    """An image file declares more pixels than allowed (a possible decompression bomb)."""


class ImageWriteError(OSError):
    """An image cannot be written (folder missing or read-only, disk full, bad format)."""


class ImageFormatError(ImageWriteError, ValueError):
    """The file type or the format cannot store this image (an unsupported extension or
    layout, a float PNG, a 16-bit JPEG): a ValueError as well as an ImageWriteError, as
    :class:`io.UnsupportedOperation` is both an OSError and a ValueError."""


class ImageTypeError(ImageWriteError, TypeError):
    """The image's dtype cannot be written in any format (a TypeError as well)."""
