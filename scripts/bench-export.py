#!/usr/bin/env python3
"""Writes a synthetic calendar export for scripts/bench (standard library only).

    bench-export.py ROWS CONTACT FIRST_DAY OUT [FORMAT]

CONTACT is "email", "sms" or "both": which of the email and phone columns are filled
(the columns are always there, as in real exports). FIRST_DAY is a local date
(YYYY-MM-DD, Europe/Berlin); appointments spread over it and the following six days,
08:00-17:59, written as "YYYY-MM-DD HH:MM" (one of the default datetime formats).
No time of day falls into a DST gap. One million CSV rows take a few seconds.

FORMAT is the file kind, every one holding the same bookings (keys B00000000, ...):
  csv      (default) header key,start,service,location,name,email,phone
  json     one JSON array of objects with those keys (empty fields as "")
  ndjson   one such object per line
  ics      one VCALENDAR, one VEVENT per booking: UID = key, DTSTART;TZID=Europe/Berlin
           (with a VTIMEZONE), DURATION:PT15M, SUMMARY = service, LOCATION, the citizen as
           ATTENDEE;CN=name:mailto:email (urn:uuid:... when there is no email), X-PHONE
  xlsx     first sheet "Termine", header row as the CSV, every cell an inline string
  ods      the same as an OpenDocument spreadsheet
  sqlite   a SQLite file with a table termine holding the CSV's columns as text
OUT should end in .xlsx or .ods for those kinds (absage tells spreadsheets by extension).
Everything is streamed to disk, a chunk at a time; an existing OUT is replaced.
"""

import datetime
import itertools
import json
import os
import sqlite3
import sys
import zipfile
from xml.sax.saxutils import escape

SERVICES = ("Zulassung", "Führerschein", "Personalausweis", "Reisepass", "Meldebescheinigung")
LOCATIONS = ("Soest", "Lippstadt", "Werl")
COLUMNS = ("key", "start", "service", "location", "name", "email", "phone")
DAYS = 7
CHUNK = 50_000


def rows(n, contact, first_day):
    """The bookings as tuples in COLUMNS order; email and phone "" where not wanted."""
    days = [(first_day + datetime.timedelta(days=d)).isoformat() for d in range(DAYS)]
    want_email = contact in ("email", "both")
    want_phone = contact in ("sms", "both")
    for i in range(n):
        minute = i % 600  # ten hours of slots per day, then the next day
        day = days[(i // 600) % DAYS]
        start = f"{day} {8 + minute // 60:02d}:{minute % 60:02d}"
        email = f"person{i}@example.org" if want_email else ""
        # German mobile numbers, written as citizens type them; unique per row.
        phone = f"0171 {i % 10_000_000:07d}" if want_phone else ""
        yield (
            f"B{i:08d}",
            start,
            SERVICES[i % len(SERVICES)],
            LOCATIONS[i % len(LOCATIONS)],
            f"Person {i}",
            email,
            phone,
        )


def chunked(lines):
    """Joins lines into big strings, so files are written in few calls."""
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= CHUNK:
            yield "".join(chunk)
            chunk.clear()
    yield "".join(chunk)


def write_text(out, parts):
    with open(out, "w", encoding="utf-8", newline="") as f:
        for part in parts:
            f.write(part)


# ---------------------------------------------------------------- text formats


def csv_parts(data):
    yield ",".join(COLUMNS) + "\n"
    yield from chunked(",".join(row) + "\n" for row in data)


def ndjson_parts(data):
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    yield from chunked(dumps(dict(zip(COLUMNS, row))) + "\n" for row in data)


def json_parts(data):
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    first = True

    def objects():
        nonlocal first
        for row in data:
            text = dumps(dict(zip(COLUMNS, row)))
            yield ("[\n" if first else ",\n") + text
            first = False

    yield from chunked(objects())
    yield "]\n" if not first else "[]\n"


# Europe/Berlin since 1996; absage takes the zone from the IANA TZID, the block is here
# because RFC 5545 wants every TZID defined in the file.
VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def ics_text(text):
    """A TEXT value escaped (RFC 5545 §3.3.11); the generated values need none of it."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


def ics_parts(data):
    head = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//absage//bench-export//DE\n"
        "CALSCALE:GREGORIAN\n" + VTIMEZONE
    )
    yield head.replace("\n", "\r\n")
    stamp = "20260101T000000Z"  # fixed, so the same arguments give the same file

    def events():
        for number, (key, start, service, location, name, email, phone) in enumerate(data):
            when = f"{start[0:4]}{start[5:7]}{start[8:10]}T{start[11:13]}{start[14:16]}00"
            # A citizen without email still is the attendee, with an address absage skips.
            uuid = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
            address = f"mailto:{email}" if email else uuid
            lines = [
                "BEGIN:VEVENT",
                f"UID:{key}",
                f"DTSTAMP:{stamp}",
                f"DTSTART;TZID=Europe/Berlin:{when}",
                "DURATION:PT15M",
                f"SUMMARY:{ics_text(service)}",
                f"LOCATION:{ics_text(location)}",
                "ORGANIZER;CN=Kreis Soest:mailto:termine@kreis-soest.example",
                # ROLE left out (REQ-PARTICIPANT is the default): lines stay within the 75
                # octets RFC 5545 allows unfolded, up to 10^8 rows.
                f"ATTENDEE;CN={name}:{address}",
            ]
            if phone:
                lines.append(f"X-PHONE:{ics_text(phone)}")
            lines.append("END:VEVENT\r\n")
            yield "\r\n".join(lines)

    yield from chunked(events())
    yield "END:VCALENDAR\r\n"


# ---------------------------------------------------------------- spreadsheets


def zip_info(name, compress_type=zipfile.ZIP_DEFLATED):
    # A fixed date, so the same arguments give the same file.
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = compress_type
    return info


def zip_member(zf, name, parts):
    """Writes a deflated member from string parts without holding it whole."""
    with zf.open(zip_info(name), "w", force_zip64=True) as member:
        for part in parts:
            member.write(part.encode("utf-8"))


XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Termine" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}


def xlsx_sheet(data):
    yield (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    )
    letters = "ABCDEFG"

    def xml_rows():
        for number, row in enumerate(itertools.chain([COLUMNS], data), start=1):
            # An empty field is no cell at all, as Excel writes it.
            cells = "".join(
                f'<c r="{letters[col]}{number}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
                for col, value in enumerate(row)
                if value
            )
            yield f'<row r="{number}">{cells}</row>'

    yield from chunked(xml_rows())
    yield "</sheetData></worksheet>"


def write_xlsx(out, data):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in XLSX_STATIC.items():
            zf.writestr(zip_info(name), text)
        zip_member(zf, "xl/worksheets/sheet1.xml", xlsx_sheet(data))


ODS_MIME = "application/vnd.oasis.opendocument.spreadsheet"
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{ODS_MIME}"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def ods_content(data):
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Termine">'
        f'<table:table-column table:number-columns-repeated="{len(COLUMNS)}"/>'
    )

    def cell(value):
        if not value:
            return "<table:table-cell/>"
        return f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'

    def xml_rows():
        yield "<table:table-row>" + "".join(cell(c) for c in COLUMNS) + "</table:table-row>"
        for row in data:
            yield "<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>"

    yield from chunked(xml_rows())
    yield "</table:table></office:spreadsheet></office:body></office:document-content>"


def write_ods(out, data):
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        # The mimetype comes first and uncompressed, so tools can tell the kind by its bytes.
        zf.writestr(zip_info("mimetype", zipfile.ZIP_STORED), ODS_MIME)
        zf.writestr(zip_info("META-INF/manifest.xml"), ODS_MANIFEST)
        zip_member(zf, "content.xml", ods_content(data))


# ---------------------------------------------------------------- SQLite


def write_sqlite(out, data):
    if os.path.exists(out):
        os.remove(out)
    db = sqlite3.connect(out)
    try:
        db.execute("pragma journal_mode = off")
        db.execute("pragma synchronous = off")
        columns = ", ".join(f'"{c}" text not null' for c in COLUMNS)
        db.execute(f"create table termine ({columns})")
        insert = f"insert into termine values ({', '.join('?' * len(COLUMNS))})"
        db.executemany(insert, data)
        db.commit()
    finally:
        db.close()


# ---------------------------------------------------------------- main

WRITERS = {
    "csv": lambda out, data: write_text(out, csv_parts(data)),
    "json": lambda out, data: write_text(out, json_parts(data)),
    "ndjson": lambda out, data: write_text(out, ndjson_parts(data)),
    "ics": lambda out, data: write_text(out, ics_parts(data)),
    "xlsx": write_xlsx,
    "ods": write_ods,
    "sqlite": write_sqlite,
}


def main():
    args = sys.argv[1:]
    if len(args) == 4:
        args.append("csv")
    if len(args) != 5 or args[1] not in ("email", "sms", "both") or args[4] not in WRITERS:
        sys.exit(__doc__)
    n, contact, out, kind = int(args[0]), args[1], args[3], args[4]
    first_day = datetime.date.fromisoformat(args[2])
    WRITERS[kind](out, rows(n, contact, first_day))


if __name__ == "__main__":
    main()
