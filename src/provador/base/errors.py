"""Every mistake a user can make raises a subclass of `ProvadorError`.

The message says what was expected, what was received and how to fix it.
The CLI prints it without a traceback and exits with status 1; bugs still
raise ordinary exceptions.
"""


class ProvadorError(Exception):
    """A user-facing error: the message is the whole story."""


class DataNotFoundError(ProvadorError):
    """The dataset files are in none of the places provador looks."""


class DataFormatError(ProvadorError):
    """A file is not a valid IDX file (bad magic, truncated, corrupted)."""


class DataHashError(ProvadorError):
    """A dataset file's content does not match its published hash."""


class RecipeError(ProvadorError):
    """A recipe is missing, or has an unknown key or an invalid value."""


class ModelError(ProvadorError):
    """An unknown architecture or invalid model arguments."""


class RunError(ProvadorError):
    """A run directory that does not exist, is incomplete, or failed."""


class RunFileDamaged(RunError):
    """One of a run's files cannot be read as what `provador train` writes; `file` names it."""

    def __init__(self, message: str, file: str):
        super().__init__(message)
        self.file = file


class InputError(ProvadorError):
    """Bad input to predict: an index out of range, an unreadable image."""


class TrainingDiverged(ProvadorError):
    """The loss became NaN or infinite during training."""


class NotAnImage(InputError):
    """A file that is no image, or in a format provador does not read."""


class ImageTooLarge(InputError):
    """An image over the pixel limit (a decompression bomb, or simply too big)."""


class DamagedImage(InputError):
    """An image file that is truncated or corrupted."""


class SpaceError(ProvadorError):
    """A search space with an unknown key, an empty range or a value the recipe rejects."""


class StudyError(ProvadorError):
    """A study that does not exist, exists with another space, or got an invalid budget."""


class StorageError(ProvadorError):
    """A study storage (a PostgreSQL URL, a journal file) that cannot be opened."""
