"""One MIME part at a time: its content type, disposition and filename, its
payload bytes, an enclosed message written back out, and parts a broken mailer
left after the closing boundary.

Content-Type and Content-Disposition parameters are read with the fast
everyday-shape parser below and, for the rest (RFC 2231, comments), with
``email.policy.default``'s header registry behind a guard, because it raises on
some broken headers.
"""

from __future__ import annotations

import email.policy
import email.utils
import mimetypes
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser

from .charset import _raw_to_str
from .cleaning import _one_line
from .headers import decode_header_value

__all__ = ["safe_filename"]


_MAX_PARTS = 2000
_MAX_DEPTH = 40
_HEADER_FACTORY = email.policy.default.header_factory
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_WIN_RESERVED = re.compile(r'[<>:"|?*\x00-\x1f]')


@dataclass
class _PartInfo:
    content_type: str
    params: dict[str, str]
    disposition: str
    filename: str | None


def _raw_header(part: Message, name: str) -> str | None:
    for key, value in part.raw_items():
        if key.lower() == name:
            return value
    return None


# The everyday shape of Content-Type/Content-Disposition: ASCII tokens and
# plain quoted strings, no RFC 2231 (*=), comments or escapes. Parsed here
# directly; the header registry is several times slower and only needed for
# the rest.
_SIMPLE_STRUCTURED = re.compile(
    r"""^\s*([A-Za-z0-9!#$%&'+\-.^_`|~]+(?:/[A-Za-z0-9!#$%&'+\-.^_`|~]+)?)\s*"""
    r"""((?:;\s*[A-Za-z0-9_\-.]+\s*=\s*(?:"[^"\\]*"|[^;"\s()\\*]*)\s*)*);?\s*$"""
)
_SIMPLE_PARAM = re.compile(r""";\s*([A-Za-z0-9_\-.]+)\s*=\s*("[^"\\]*"|[^;"\s()\\*]*)""")


def _header_params(name: str, raw: str | None, problems: list[str]) -> tuple[str, dict[str, str]] | None:
    """Main value and parameters of a structured header, RFC 2231 decoded."""
    if raw is None:
        return None
    text = _raw_to_str(raw, problems, name)
    if len(text) > 16_000:
        return None
    text = _FOLD.sub("", text).replace("\r", " ").replace("\n", " ")
    if len(text) < 2000 and text.isascii():
        simple = _SIMPLE_STRUCTURED.match(text)
        if simple is not None:
            params: dict[str, str] = {}
            for key, value in _SIMPLE_PARAM.findall(simple.group(2)):
                params.setdefault(key.lower(), value[1:-1] if value.startswith('"') else value)
            return simple.group(1).lower(), params
    try:
        header = _HEADER_FACTORY(name, text)
        params = {k.lower(): str(v) for k, v in header.params.items()}
        if not params and header.defects and "=" in text:
            return None
        main = header.content_type if name == "content-type" else header.content_disposition or ""
        return str(main or "").lower(), params
    except Exception:  # noqa: BLE001 - the header registry raises on some broken headers
        return None


def _part_info(part: Message, problems: list[str]) -> _PartInfo:
    parsed = _header_params("content-type", _raw_header(part, "content-type"), problems)
    if parsed is not None and "/" in parsed[0]:
        ctype, params = parsed
    else:
        try:
            ctype = part.get_content_type()
            params = {}
            for key, value in (part.get_params() or [])[1:]:
                params[str(key).lower()] = str(email.utils.collapse_rfc2231_value(value))
        except Exception:  # noqa: BLE001
            ctype, params = part.get_default_type(), {}
    disp_parsed = _header_params("content-disposition", _raw_header(part, "content-disposition"), problems)
    disposition = ""
    filename = None
    if disp_parsed is not None:
        disposition, disp_params = disp_parsed
        filename = disp_params.get("filename")
    else:
        raw_disp = _raw_header(part, "content-disposition")
        if raw_disp:
            disposition = _raw_to_str(raw_disp).split(";", 1)[0].strip().lower()
            try:
                filename = part.get_filename()
            except Exception:  # noqa: BLE001
                filename = None
    if not filename:
        filename = params.get("name")
    if filename is not None:
        filename = decode_header_value(filename, problems, "attachment filename")
    return _PartInfo(ctype, params, disposition, filename)


def _raw_payload(part: Message) -> object:
    """The payload exactly as parsed.

    ``get_payload()`` without ``decode`` re-decodes 8-bit text with the declared
    charset (lossy, and it raises on a charset name with a NUL in it).
    """
    return getattr(part, "_payload", None)


def _payload_bytes(part: Message, problems: list[str], where: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - bad transfer encodings
        problems.append(f"{where}: unreadable transfer encoding")
        data = None
    if data is None:
        payload = _raw_payload(part)
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape")
        return b""
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    return data


def _flatten(part: Message, out: list[str], depth: int = 0) -> None:
    """Serialise a parsed tree back to (nearly) its original text.

    Much faster than ``Message.as_bytes()``, which refolds every header of
    every part (0.6 s for a 3,000-part enclosure in the corpus): the parser
    kept raw values and bodies, so they are written back as they came.
    """
    if depth > _MAX_DEPTH:
        raise RecursionError("enclosure nested too deeply")
    for name, value in part.raw_items():
        out.append(f"{name}: {value}\n")
    out.append("\n")
    payload = _raw_payload(part)
    if not isinstance(payload, list):
        out.append(payload if isinstance(payload, str) else "")
        return
    boundary = part.get_boundary() if part.get_content_maintype() == "multipart" else None
    if boundary is None:
        # message/rfc822 holds one message, delivery-status several header blocks.
        for item in payload:
            if isinstance(item, Message):
                _flatten(item, out, depth + 1)
        return
    if part.preamble is not None:
        out.append(part.preamble + "\n")
    for index, item in enumerate(payload):
        out.append(("\n" if index else "") + f"--{boundary}\n")
        if isinstance(item, Message):
            _flatten(item, out, depth + 1)
    out.append(f"\n--{boundary}--\n")
    if part.epilogue is not None:
        out.append(part.epilogue)


def _message_bytes(part: Message, problems: list[str]) -> bytes:
    """The enclosed message (or report blocks) of a message/* part."""
    payload = _raw_payload(part)
    items = payload if isinstance(payload, list) else [payload]
    chunks = []
    for item in items:
        if isinstance(item, Message):
            try:
                out: list[str] = []
                _flatten(item, out)
                # The bytes parser kept 8-bit bytes as surrogates: this restores them.
                chunks.append("".join(out).encode("utf-8", "surrogateescape"))
            except Exception:  # noqa: BLE001 - fall back to the stdlib generator
                try:
                    chunks.append(item.as_bytes())
                except Exception:  # noqa: BLE001
                    problems.append("enclosed message could not be re-serialised")
        elif isinstance(item, str):
            chunks.append(item.encode("utf-8", "surrogateescape"))
        elif isinstance(item, bytes):
            chunks.append(item)
    # delivery-status blocks are separate header blocks: keep them apart.
    return b"\n".join(chunks)


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A filename that is safe to show and to save: no path, no controls."""
    text = _one_line(name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _WIN_RESERVED.sub("_", text).strip().lstrip(".").strip()
    if len(text) > 200:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: 200 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 16 else text[:200]
    if not text:
        ext = ".eml" if content_type == "message/rfc822" else (mimetypes.guess_extension(content_type) or ".bin")
        text = f"attachment-{index}{ext}"
    return text


def _stray_parts(part: Message) -> list[Message]:
    """Parts a broken mailer put after the closing boundary.

    Reusing the outer boundary for a nested multipart makes the parser close
    the outer one early, and the real attachments end up in the epilogue.
    """
    epilogue = part.epilogue
    if not epilogue or len(epilogue) < 20:
        return []
    try:
        boundary = part.get_boundary()
    except Exception:  # noqa: BLE001
        return []
    if not boundary or f"--{boundary}" not in epilogue:
        return []
    delimiter = re.compile(r"^--" + re.escape(boundary) + r"(?:--)?[ \t]*\r?$", re.M)
    parser = BytesParser(policy=email.policy.compat32)
    found = []
    for chunk in delimiter.split(epilogue)[1:]:
        chunk = chunk.lstrip("\r\n")
        if ":" not in chunk.split("\n", 1)[0]:
            continue
        found.append(parser.parsebytes(chunk.encode("utf-8", "surrogateescape")))
    return found
