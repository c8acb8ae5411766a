"""Hostile inputs generated at test time: what a phone, a broken export or a stalker can put in a folder.

Each item writes its file(s) into a source folder and says what the run must make of it: the path as the
run shows it, and either `stored` (hashed and listed with one of the given statuses; a status other than
parsed must carry its reason) or `not_read` (listed in ingest_errors with a reason containing the given
words). Nothing here is committed as a binary: every file is built from bytes written below.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHAT_LINE = "13/01/2024, 10:00 - Sam: "
BIG_LINE_BYTES = 50 * 1024 * 1024
BOMB_MEMBER_BYTES = 64 * 1024 * 1024
SECRET = "hostile-suite-secret-7f3a"  # the content of a file outside the source: must never be read


@dataclass
class Expect:
    """What the run must record for one path (shown relative to the source folder)."""

    path: str
    stored: tuple[str, ...] = ()  # allowed files.status values when the file is stored
    not_read: str | None = None  # words of the ingest_errors reason when it is not read
    reason: str | None = None  # words the run_files reason or an ingest_errors row of the path must hold


@dataclass
class Item:
    name: str
    make: Callable[[Path, Path], None]  # (source folder, a folder outside the source)
    expect: list[Expect] = field(default_factory=list)


def zip_bytes(
    members: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_raw_name(raw_name: str, data: bytes) -> bytes:
    """A zip whose member name is written as given (zipfile would turn backslashes into slashes)."""
    placeholder = "P" * len(raw_name.encode())
    built = zip_bytes([(placeholder, data)], zipfile.ZIP_STORED)
    return built.replace(placeholder.encode(), raw_name.encode())


def symlink_zip(target: str) -> bytes:
    info = zipfile.ZipInfo("link-to-secret")
    info.external_attr = (0o120777 << 16) | 0
    info.create_system = 3
    return zip_bytes([(info, target.encode()), ("ok.txt", b"fine member")])


def encrypted_zip() -> bytes:
    """A zip whose only member is marked encrypted (traditional PKWARE), as `zip -P` writes it."""
    data = bytearray(zip_bytes([("diary.txt", b"x" * 40)], zipfile.ZIP_STORED))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 0x01
    data[central + 8] |= 0x01
    return bytes(data)


def nested_zip(depth: int, fan_out: int) -> bytes:
    inner = zip_bytes([("leaf.txt", b"bottom of the nest")])
    for level in range(depth):
        inner = zip_bytes([(f"level{level}-{n}.zip", inner) for n in range(fan_out)])
    return inner


def high_ratio_zip() -> bytes:
    """One member of 64 MiB of zeros compressed about a thousand times."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        block = bytes(1024 * 1024)
        for _ in range(BOMB_MEMBER_BYTES // len(block)):
            member.write(block)
    return buffer.getvalue()


def tar_with_links(kind: bytes, target: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("evil-link")
        info.type = kind
        info.linkname = target
        archive.addfile(info)
        data = b"a normal member"
        plain = tarfile.TarInfo("ok.txt")
        plain.size = len(data)
        archive.addfile(plain, io.BytesIO(data))
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: int | None = None) -> bytes:
    """A greyscale PNG declaring width x height; only `rows` rows of pixels are actually present."""
    body = zlib.compress((b"\x00" + bytes(width)) * (height if rows is None else rows), 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def sms_xml(doctype: str, body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n<smses count="1">\n'
        f'<sms protocol="0" address="+447700900123" date="1705140000000" type="1" body="{body}" '
        'read="1" status="-1" readable_date="13 Jan 2024 10:00:00" contact_name="Sam" />\n</smses>\n'
    ).encode()


BILLION_LAUGHS = (
    '<!DOCTYPE smses [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    )
    + "]>"
)


def eml(headers: str, body: str) -> bytes:
    return (headers + "\r\n" + body).replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


def eml_html_entities(secret_path: Path) -> bytes:
    html = (
        f'<!DOCTYPE html [<!ENTITY xxe SYSTEM "file://{secret_path}">'
        '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<html><body><p>see &xxe; and &b;</p></body></html>"
    )
    return eml(
        "From: Sam <sam@example.net>\nTo: me@example.org\nSubject: entities\n"
        "Date: Sat, 13 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n",
        html + "\n",
    )


def eml_many_parts(parts: int) -> bytes:
    body = "".join(f"--b\nContent-Type: text/plain\n\npart {n}\n" for n in range(parts)) + "--b--\n"
    return eml(
        "From: Sam <sam@example.net>\nTo: me@example.org\nSubject: many parts\n"
        'Date: Sat, 13 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
        body,
    )


def eml_path_attachments() -> bytes:
    parts = "".join(
        f'--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="{name}"\n'
        f"Content-Transfer-Encoding: base64\n\n{data}\n"
        for name, data in (("../../x", "aGVsbG8="), ("/etc/passwd", "cm9vdA=="), ("..\\..\\win.ini", "d2lu"))
    )
    return eml(
        "From: Sam <sam@example.net>\nTo: me@example.org\nSubject: attachments\n"
        'Date: Sat, 13 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n',
        f"--b\nContent-Type: text/plain\n\nsee attached\n{parts}--b--\n",
    )


def mbox_with_nuls() -> bytes:
    return (
        b"From sam@example.net Sat Jan 13 10:00:00 2024\n"
        b"From: Sam <sam@example.net>\nTo: me@example.org\nSubject: nul\x00bytes\n"
        b"Date: Sat, 13 Jan 2024 10:00:00 +0000\n\nhello\x00\x00 there\n\n"
        b"From sam@example.net Sat Jan 13 10:05:00 2024\n"
        b"From: Sam <sam@example.net>\nTo: me@example.org\nSubject: second\n"
        b"Date: Sat, 13 Jan 2024 10:05:00 +0000\n\n\x00\x00\x00\n"
    )


def write(relative: str | bytes, data: bytes) -> Callable[[Path, Path], None]:
    def make(source: Path, outside: Path) -> None:
        path = os.path.join(os.fsencode(source), os.fsencode(relative))
        with open(path, "wb") as handle:
            handle.write(data)

    return make


def stored(path: str, *statuses: str, reason: str | None = None) -> list[Expect]:
    return [Expect(path, stored=statuses or ("parsed", "failed", "unsupported"), reason=reason)]


def member_refused(archive: str, member: str, words: str) -> list[Expect]:
    return [*stored(archive, "parsed"), Expect(f"{archive}!/{member}", not_read=words)]


def _secret_link(name: str, to_folder: bool = False) -> Callable[[Path, Path], None]:
    def make(source: Path, outside: Path) -> None:
        os.symlink(outside if to_folder else outside / "secret.txt", source / name)

    return make


def _xxe(name: str) -> Callable[[Path, Path], None]:
    def make(source: Path, outside: Path) -> None:
        doctype = f'<!DOCTYPE smses [<!ENTITY xxe SYSTEM "file://{outside / "secret.txt"}">]>'
        (source / name).write_bytes(sms_xml(doctype, "&xxe;"))

    return make


def _eml_entities(source: Path, outside: Path) -> None:
    (source / "entities.eml").write_bytes(eml_html_entities(outside / "secret.txt"))


def _big_line(source: Path, outside: Path) -> None:
    with open(source / "WhatsApp Chat with Big.txt", "wb") as handle:
        handle.write(f"{CHAT_LINE}first\n13/01/2024, 10:01 - Sam: second\n13/01/2024, 10:02 - Sam: ".encode())
        block = b"A" * (1024 * 1024)
        for _ in range(BIG_LINE_BYTES // len(block)):
            handle.write(block)


def _fifo(source: Path, outside: Path) -> None:
    os.mkfifo(source / "pipe")


def _device(source: Path, outside: Path) -> None:
    """A character device like /dev/null where the system allows it (root with CAP_MKNOD), else a socket."""
    import socket
    import stat

    try:
        os.mknod(source / "device", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(source / "device"))
        server.close()


def _names(relative: bytes, text: str) -> Callable[[Path, Path], None]:
    return write(relative, f"{CHAT_LINE}{text}\n".encode())  # type: ignore[arg-type]


def deep_json(levels: int) -> bytes:
    """A Telegram chat export (it is recognised as one) whose messages nest `levels` arrays deep."""
    head = b'{"name": "Sam", "type": "personal_chat", "id": 1, "messages": '
    return head + b"[" * levels + b"]" * levels + b"}"


def deep_xml(levels: int) -> bytes:
    return b'<?xml version="1.0"?><smses count="1">' + b"<a>" * levels + b"</a>" * levels + b"</smses>"


def items() -> list[Item]:
    chat = f"{CHAT_LINE}hello\n13/01/2024, 10:01 - Sam: are you there\n"
    utf16 = "\ufeff" + chat.replace("hello", "h\u00e9llo \u2603")
    # a lone high surrogate (half of a pair) in the second message: not valid UTF-16
    invalid_utf16 = utf16.replace("are you", "are \ud83d you").encode("utf-16-le", "surrogatepass")
    return [
        Item(
            "zip_slip_relative",
            write("slip-relative.zip", zip_bytes([("../evil.txt", b"escaped")])),
            member_refused("slip-relative.zip", "../evil.txt", "'..'"),
        ),
        Item(
            "zip_slip_absolute",
            write("slip-absolute.zip", zip_with_raw_name("/etc/x", b"escaped")),
            member_refused("slip-absolute.zip", "/etc/x", "absolute path"),
        ),
        Item(
            "zip_slip_backslash",
            write("slip-backslash.zip", zip_with_raw_name("..\\x", b"escaped")),
            member_refused("slip-backslash.zip", "..\\x", "'..'"),
        ),
        Item(
            "zip_slip_drive_letter",
            write("slip-drive.zip", zip_with_raw_name("C:\\x", b"escaped")),
            member_refused("slip-drive.zip", "C:\\x", "absolute path"),
        ),
        Item(
            "zip_symlink_entry",
            write("symlink.zip", symlink_zip("/etc/passwd")),
            [
                *member_refused("symlink.zip", "link-to-secret", "symbolic link"),
                *stored("symlink.zip!/ok.txt"),
            ],
        ),
        Item(
            "tar_symlink_entry",
            write("symlink.tar", tar_with_links(tarfile.SYMTYPE, "/etc/passwd")),
            stored("symlink.tar", "unsupported", reason="no parser"),
        ),
        Item(
            "tar_hardlink_entry",
            write("hardlink.tar", tar_with_links(tarfile.LNKTYPE, "../../etc/passwd")),
            stored("hardlink.tar", "unsupported", reason="no parser"),
        ),
        Item(
            "zip_nested_bomb",
            write("nested-bomb.zip", nested_zip(depth=6, fan_out=3)),
            [
                *stored("nested-bomb.zip", "parsed"),
                Expect(
                    "nested-bomb.zip!/level5-0.zip!/level4-0.zip!/level3-0.zip",
                    stored=("parsed",),
                    reason="nested deeper than 3 levels: members not read",
                ),
            ],
        ),
        Item(
            "zip_high_ratio_bomb",
            write("ratio-bomb.zip", high_ratio_zip()),
            member_refused("ratio-bomb.zip", "zeros.bin", "possible zip bomb"),
        ),
        Item(
            "zip_encrypted",
            write("encrypted.zip", encrypted_zip()),
            member_refused("encrypted.zip", "diary.txt", "encrypted"),
        ),
        Item(
            "zip_corrupt",
            write("corrupt.zip", b"PK\x03\x04" + os.urandom(2000)),
            [Expect("corrupt.zip", stored=("parsed", "failed", "unsupported"), reason="cannot be opened")],
        ),
        Item(
            "zip_truncated",
            # cut inside its only member: the start that reached the file is kept, named as cut
            write("truncated.zip", zip_bytes([("a.txt", os.urandom(5000))])[:3000]),
            [
                *stored("truncated.zip", "parsed", reason="what could be read of it was kept"),
                *stored("truncated.zip!/a.txt", "unsupported", reason="only its first"),
            ],
        ),
        Item(
            # a download cut short inside its second member: the directory, written last, is lost
            "zip_cut_after_a_member",
            write(
                "cut.zip",
                (lambda whole: whole[: whole.index(b"b.bin") + 500])(
                    zip_bytes([("a.txt", b"kept " * 100), ("b.bin", os.urandom(5000))])
                ),
            ),
            [
                *stored("cut.zip", "parsed", reason="read from their own headers"),
                *stored("cut.zip!/a.txt"),
            ],
        ),
        Item("tar_corrupt", write("corrupt.tar", b"ustar" + os.urandom(3000)), stored("corrupt.tar")),
        Item(
            "tar_truncated",
            write("truncated.tar", tar_with_links(tarfile.SYMTYPE, "x")[:700]),
            stored("truncated.tar"),
        ),
        Item(
            "png_decompression_bomb",
            write("bomb.png", png(60_000, 60_000, rows=4)),
            stored("bomb.png", "failed", "unsupported", "parsed"),
        ),
        Item("png_truncated", write("truncated.png", png(300, 200)[:90]), stored("truncated.png")),
        Item(
            "png_corrupt", write("corrupt.png", png(300, 200)[:40] + os.urandom(400)), stored("corrupt.png")
        ),
        Item("jpeg_truncated", write("truncated.jpg", jpeg()[:300]), stored("truncated.jpg")),
        Item("jpeg_corrupt", write("corrupt.jpg", jpeg()[:20] + os.urandom(600)), stored("corrupt.jpg")),
        Item(
            "xml_external_entity",
            _xxe("sms-xxe.xml"),
            stored("sms-xxe.xml", "failed", reason="declares entities"),
        ),
        Item(
            "xml_billion_laughs",
            write("sms-laughs.xml", sms_xml(BILLION_LAUGHS, "&lol9;")),
            stored("sms-laughs.xml", "failed", reason="declares entities"),
        ),
        Item("eml_html_entities", _eml_entities, stored("entities.eml", "parsed")),
        Item("xml_nested_100k", write("sms-deep.xml", deep_xml(100_000)), stored("sms-deep.xml")),
        Item(
            "json_nested_100k",
            write("result.json", deep_json(100_000)),
            stored("result.json", "failed", reason="nested too deeply"),
        ),
        Item("huge_single_line", _big_line, stored("WhatsApp Chat with Big.txt", "parsed")),
        Item(
            "whatsapp_invalid_utf8",
            write(
                "WhatsApp Chat with Bad.txt",
                chat.encode() + b"13/01/2024, 10:02 - Sam: \xff\xfe\xc3(\xed\xa0\x80\n",
            ),
            stored("WhatsApp Chat with Bad.txt", "parsed"),
        ),
        Item(
            "whatsapp_utf16_bom_invalid",
            write("WhatsApp Chat with Le.txt", invalid_utf16),
            stored("WhatsApp Chat with Le.txt", "parsed", reason="UTF-16"),
        ),
        Item(
            "whatsapp_utf16_no_bom",
            write("WhatsApp Chat with Be.txt", utf16[1:].encode("utf-16-be")),
            stored("WhatsApp Chat with Be.txt", "parsed", reason="UTF-16"),
        ),
        Item("empty_file", write("empty.json", b""), stored("empty.json", "unsupported", "failed")),
        Item("fifo", _fifo, [Expect("pipe", not_read="not a regular file")]),
        Item("device_or_socket", _device, [Expect("device", not_read="not a regular file")]),
        Item(
            "name_with_newline",
            _names(b"WhatsApp Chat with New\nLine.txt", "newline"),
            stored("WhatsApp Chat with New\nLine.txt", "parsed"),
        ),
        Item(
            "name_with_rtl_override",
            _names("WhatsApp Chat with \u202etxt.exe.txt".encode(), "rtl"),
            stored("WhatsApp Chat with \u202etxt.exe.txt", "parsed"),
        ),
        Item(
            "name_looking_like_dotdot",
            _names(b"..\\..\\WhatsApp Chat with Dots.txt", "dots"),
            stored("..\\..\\WhatsApp Chat with Dots.txt", "parsed"),
        ),
        Item(
            "name_not_utf8",
            _names(b"WhatsApp Chat with \xff\xfeRaw.txt", "raw bytes"),
            stored("WhatsApp Chat with \\xff\\xfeRaw.txt", "parsed"),
        ),
        Item(
            "symlink_out_of_source",
            _secret_link("secret-link.txt"),
            [Expect("secret-link.txt", not_read="symbolic link not followed")],
        ),
        Item(
            "symlink_to_folder_out_of_source",
            _secret_link("outside-folder", to_folder=True),
            [Expect("outside-folder", not_read="symbolic link to a folder")],
        ),
        Item(
            "eml_thousands_of_parts", write("many-parts.eml", eml_many_parts(5000)), stored("many-parts.eml")
        ),
        Item(
            "eml_path_like_attachment_names",
            write("attachments.eml", eml_path_attachments()),
            stored("attachments.eml", "parsed"),
        ),
        Item("mbox_with_nul_bytes", write("mail.mbox", mbox_with_nuls()), stored("mail.mbox")),
    ]
