"""The text of a message body part: charset, HTML to text, format=flowed,
and tidied whitespace."""

from __future__ import annotations

import re
from email.message import Message

import html2text

from .charset import decode_bytes
from .mime import _PartInfo, _payload_bytes

__all__ = ["html_to_text"]


_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:\-]{1,40})""", re.I)
# html2text escapes Markdown at line starts ("\\- item", "1\\. first"): noise here.
_MD_ESCAPE_MARK = re.compile(r"(^|[ \t])\\([-+*#])", re.M)
_MD_ESCAPE_NUMBER = re.compile(r"^(\s*\d+)\\\.", re.M)
_TRAILING_WS = re.compile(r"[ \t]+$", re.M)
_BLANK_RUNS = re.compile(r"\n{3,}")
_TAGS = re.compile(r"<[^>]{0,2000}>")


def _html_cell_break(parser: html2text.HTML2Text, tag: str, attrs: object, start: bool) -> bool:
    # With tables ignored html2text glues neighbouring cells together.
    if tag in ("td", "th") and not start:
        parser.o(" ")
    return False


def html_to_text(html: str) -> str:
    """Readable text from HTML mail: links kept as ``[text](url)``, no images."""
    if not html:
        return ""
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.unicode_snob = True
    converter.skip_internal_links = True
    converter.tag_callback = _html_cell_break
    try:
        text = converter.handle(html)
    except Exception:  # noqa: BLE001 - html2text is not hardened against all markup
        text = _TAGS.sub(" ", html)
    text = _MD_ESCAPE_MARK.sub(r"\1\2", text)
    text = _MD_ESCAPE_NUMBER.sub(r"\1.", text)
    return text


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_WS.sub("", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n")


def _unflow(text: str, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks."""
    out: list[str] = []
    buf = ""
    buf_depth = -1
    for line in text.split("\n"):
        stripped = line.lstrip(">")
        depth = len(line) - len(stripped)
        if stripped.startswith(" "):
            stripped = stripped[1:]  # space-stuffing
        if buf and depth != buf_depth:
            out.append(">" * buf_depth + (" " if buf_depth else "") + buf)
            buf = ""
        soft = stripped.endswith(" ") and stripped != "-- "
        piece = stripped[:-1] if soft and delsp else stripped
        buf += piece
        buf_depth = depth
        if not soft:
            out.append(">" * depth + (" " if depth and buf else "") + buf)
            buf = ""
    if buf:
        out.append(">" * buf_depth + (" " if buf_depth else "") + buf)
    return "\n".join(out)


def _text_of(part: Message, info: _PartInfo, problems: list[str]) -> str:
    data = _payload_bytes(part, problems, info.content_type)
    charset = info.params.get("charset")
    if info.content_type == "text/html" and not charset:
        meta = _META_CHARSET.search(data[:4096])
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    text = decode_bytes(data, charset, problems, info.content_type)
    if info.content_type == "text/html":
        return html_to_text(text)
    if info.params.get("format", "").lower() == "flowed":
        text = _unflow(text.replace("\r\n", "\n"), info.params.get("delsp", "").lower() == "yes")
    return text
