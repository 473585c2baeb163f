"""Error types shared by core and the Blender glue.

Every problem a user can cause raises a subclass of ``TalkFaceError`` whose message is one
plain sentence; the operators and the headless command show that sentence as-is instead of a
traceback.
"""


class TalkFaceError(Exception):
    """Base class: a problem worth one clear sentence to the user."""


class InputError(TalkFaceError):
    """The user gave a file or setting we cannot use."""


class MissingWeightsError(TalkFaceError):
    """A shipped weights file is absent or does not match its recorded checksum."""


class DeviceError(TalkFaceError):
    """The requested compute device cannot be used."""


class DamagedFileError(TalkFaceError):
    """A file TalkFace ships or relies on is present but damaged (checksum mismatch, unreadable
    record): the fix is to restore or reinstall it, not to train; never silently worked around."""


class OutputError(TalkFaceError):
    """An output could not be written completely (disk full, permissions): earlier outputs stay."""


def stop_if(cancelled, what: str) -> None:
    """Raise InterruptedError("<what> cancelled") when ``cancelled()`` says so (None: never): the
    user's cancel, asked between steps of a long job."""
    if cancelled is not None and cancelled():
        raise InterruptedError(f"{what} cancelled")
