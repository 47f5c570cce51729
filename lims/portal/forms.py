"""Reading posted forms in memory only (an uploaded certificate never touches the disk)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = ["FormError", "PostedForm", "read_form"]

_MAX_PARTS = 8


class FormError(Exception):
    """A form that cannot be read; the message says why, for the person who sent it."""


@dataclass
class PostedForm:
    """Text fields and uploaded files of one form, held in memory."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def text(self, name: str) -> str:
        """A text field ('' when absent)."""
        return self.fields.get(name, "")


def _disposition(raw: bytes) -> tuple[str, str | None]:
    _value, params = parse_options_header(raw)
    name = params.get(b"name", b"").decode("utf-8", "replace")
    filename = params.get(b"filename")
    return name, filename.decode("utf-8", "replace") if filename is not None else None


def _multipart(body: bytes, boundary: bytes) -> PostedForm:
    form = PostedForm()
    parts: list[tuple[dict[bytes, bytes], bytearray]] = []
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        if len(parts) >= _MAX_PARTS:
            raise FormError("the form has too many parts")
        parts.append(({}, bytearray()))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1][0][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise FormError("the form data is malformed") from exc
    for headers, data in parts:
        name, filename = _disposition(headers.get(b"content-disposition", b""))
        if not name:
            continue
        if filename is not None:
            form.files[name] = (filename, bytes(data))
        else:
            form.fields[name] = bytes(data).decode("utf-8", "replace")
    return form


async def read_form(request: Request) -> PostedForm:
    """The posted form (urlencoded or multipart), read into memory within the body limit."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    body = await request.body()
    if content_type == b"application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError) as exc:
            raise FormError("the form data is malformed") from exc
        return PostedForm(fields=dict(pairs))
    if content_type == b"multipart/form-data":
        boundary = params.get(b"boundary")
        if not boundary:
            raise FormError("the form data has no boundary")
        return _multipart(body, boundary)
    raise FormError("expected a form (urlencoded or multipart)")
