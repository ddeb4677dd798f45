"""The file side of deploy_dag: receive the upload, stage it in the DAGs folder, install it atomically (with
a backup of what it replaces), and put things back when publishing it fails. No DAG code runs here.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from rest_api_plugin import config
from rest_api_plugin.dag_files import dag_folder
from rest_api_plugin.errors import BadRequest, Conflict, Misconfigured, PayloadTooLarge
from rest_api_plugin.result import CallContext

# The staged upload's name: a dot file, not *.py, so the scheduler never picks it up.
UPLOAD_PREFIX = ".rest_api_plugin_upload_"
UPLOAD_SUFFIX = ".upload"


@dataclass(frozen=True)
class Upload:
    name: str  # a plain *.py file name
    content: bytes
    target: Path  # where it goes: the DAGs folder (resolved) / name

    @property
    def replaces(self) -> bool:
        return self.target.exists()


@dataclass(frozen=True)
class Installed:
    target: Path
    backup: Path | None  # the file it replaced, kept in the backup folder

    def roll_back(self) -> None:
        """Put back the file it replaced, or remove it if it was new."""
        if self.backup:
            dag_folder.put_back(self.backup, self.target)
        else:
            self.target.unlink(missing_ok=True)


def receive(ctx: CallContext, force: bool) -> Upload:
    """The ``dag_file`` part: a *.py name (reduced to a plain file name), at most deploy_dag_max_bytes, and no
    existing file in the way unless ``force``."""
    upload = (ctx.files or {}).get("dag_file")
    if upload is None or not upload.filename:
        raise BadRequest("dag_file should be provided (a multipart/form-data file part)")
    name = safe_name(upload.filename)
    limit = config.deploy_dag_max_bytes()
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(
            f"dag_file is larger than the limit of {limit} bytes (deploy_dag_max_bytes): nothing was installed"
        )
    target = dag_folder.dags_folder() / name
    if target.parent != dag_folder.dags_folder():  # safe_name makes this impossible; never write elsewhere
        raise BadRequest(f"dag_file's name is not a file name: {name!r}")
    if (target.exists() or target.is_symlink()) and not target.is_file():
        raise Conflict(f"'{name}' exists in the DAGs folder and is not a file: not replaced")
    if target.exists() and not force:
        raise Conflict(f"The file '{name}' already exists in the DAGs folder: use force=on to replace it")
    return Upload(name=name, content=content, target=target)


# What a plain file name keeps: ASCII letters, digits and ``_.-``
NOT_IN_A_PLAIN_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(raw: str) -> str:
    """The uploaded file's name reduced to a plain file name for the DAGs folder."""
    if dag_folder.CONTROL_CHARACTERS.search(raw):
        raise BadRequest("dag_file's name contains control characters")
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]  # clients may send a Windows or POSIX path
    name = plain_file_name(base)
    if not name.endswith(".py") or name.startswith(".") or len(name) <= 3:
        raise BadRequest(f"dag_file is not a *.py file: {raw!r}")
    return name


def plain_file_name(name: str) -> str:
    """``name`` in ASCII letters, digits and ``_.-`` only, as Werkzeug's ``secure_filename`` reduces it (the
    rule old clients' uploads have always been named by): accents decomposed and dropped, other characters
    removed, whitespace runs made one ``_``, surrounding ``.`` and ``_`` stripped. May be empty."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    joined = "_".join(ascii_only.replace("/", " ").split())
    return NOT_IN_A_PLAIN_NAME.sub("", joined).strip("._")


@contextmanager
def staged(upload: Upload) -> Iterator[Path]:
    """The upload written to a temporary file next to its target (so installing it is one rename), removed
    at the end whatever happens, with any bytecode cached for it."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=UPLOAD_SUFFIX, dir=upload.target.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(upload.content)
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600: the scheduler may run as another user
    except OSError as err:
        raise not_writable(err) from err
    try:
        yield Path(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)
        dag_folder.forget_bytecode(temporary)  # left by a parsing process that was stopped


def install(staged_file: Path, upload: Upload, force: bool) -> Installed:
    """Atomically: os.replace when forced (the old file is backed up first), else a hard link that fails if
    the file appeared meanwhile."""
    target = upload.target
    try:
        if force:
            backup = dag_folder.back_up(target) if target.exists() else None
            os.replace(staged_file, target)
            return Installed(target=target, backup=backup)
        try:
            os.link(staged_file, target)
        except FileExistsError:
            raise Conflict(
                f"The file '{upload.name}' already exists in the DAGs folder: use force=on to replace it"
            ) from None
        return Installed(target=target, backup=None)
    except OSError as err:
        raise not_writable(err) from err


def not_writable(err: OSError) -> Misconfigured:
    return Misconfigured(
        f"The DAGs folder ([core] dags_folder) is not writable by the webserver "
        f"({type(err).__name__}): nothing was installed"
    )
