"""Text as students save it: UTF-8 with or without a BOM, LF or CRLF, or a clear word on where it is not UTF-8."""

from __future__ import annotations

from pytest_orchlab.core.text import t
from pytest_orchlab.submission.refusals import Refusal

BOM = b"\xef\xbb\xbf"


def decode(data: bytes, where: str) -> str | Refusal:
    """The text of a file the lab parses, with a leading BOM dropped and CRLF (or a lone CR) read as LF."""
    body = data[len(BOM):] if data.startswith(BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(BOM) if body is not data else 0)
        line = data[:offset].count(b"\n") + 1
        byte = data[offset:offset + 1].hex().upper()
        return Refusal(where, t(f"UTF-8 텍스트가 아닙니다 (오프셋 {offset} 의 바이트 0x{byte}). 편집기에서 UTF-8 로 저장하세요.",
                                f"is not UTF-8 text (byte 0x{byte} at offset {offset}); save it as UTF-8 in your editor."), line)
    if "\x00" in text:
        return Refusal(where, t("텍스트 파일이 아닙니다 (NUL 바이트).", "is not a text file (it holds NUL bytes)."), text[:text.index("\x00")].count("\n") + 1)
    return text.replace("\r\n", "\n").replace("\r", "\n")
