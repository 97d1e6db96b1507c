#!/usr/bin/env python3
"""Writes a synthetic calendar export for scripts/bench (standard library only).

    bench-export.py ROWS CONTACT FIRST_DAY OUT.csv

CONTACT is "email", "sms" or "both": which of the email and phone columns are filled
(the columns are always there, as in real exports). FIRST_DAY is a local date
(YYYY-MM-DD, Europe/Berlin); appointments spread over it and the following six days,
08:00-17:59, written as "YYYY-MM-DD HH:MM" (one of the default datetime formats).
No time of day falls into a DST gap. One million rows take a few seconds.
"""

import datetime
import sys

SERVICES = ("Zulassung", "Führerschein", "Personalausweis", "Reisepass", "Meldebescheinigung")
LOCATIONS = ("Soest", "Lippstadt", "Werl")
DAYS = 7
CHUNK = 50_000


def rows(n, contact, first_day):
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
            f"B{i:08d},{start},{SERVICES[i % len(SERVICES)]},{LOCATIONS[i % len(LOCATIONS)]},"
            f"Person {i},{email},{phone}\n"
        )


def main():
    if len(sys.argv) != 5 or sys.argv[2] not in ("email", "sms", "both"):
        sys.exit(__doc__)
    n, contact, out = int(sys.argv[1]), sys.argv[2], sys.argv[4]
    first_day = datetime.date.fromisoformat(sys.argv[3])
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("key,start,service,location,name,email,phone\n")
        chunk = []
        for line in rows(n, contact, first_day):
            chunk.append(line)
            if len(chunk) >= CHUNK:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


if __name__ == "__main__":
    main()
