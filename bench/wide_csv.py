"""Peak RSS of previewing hostile CSV files: `DEBUG=true python -m bench.wide_csv`.

A header of 1,000,000 columns and a 200 MB single-line file, generated as they are read (neither
is ever on disk or in memory whole), each through the mapping page's preview (csv_preview).
"""

import io
import os
import resource
from functools import partial

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "feedbackportal.settings")

import django

django.setup()

from bench.generated import Endless  # noqa: E402
from feedbackportal.imports.csv_reader import ImportRefused, csv_preview  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    print(f"process peak RSS before: {peak_rss_mb():.1f} MB")
    for label, file in (
        ("header of 1,000,000 columns", Endless(b"c,", 2_000_000)),
        ("200 MB single-line file", Endless(b"x" * 1000, 200 * 1024 * 1024)),
    ):
        try:
            csv_preview(partial(io.BufferedReader, file))
            outcome = "accepted (!)"
        except ImportRefused as exc:
            outcome = f"refused: {exc.message}"
        print(f"{label}: read {file.given:,} of {file.size:,} bytes; {outcome}")
        print(f"  process peak RSS now: {peak_rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
