"""`WinbackModel.fit` from Python on a large time-ordered Parquet log (the file
benches/fit_large.sh writes), to read its wall time and peak memory:

    /usr/bin/time -f "python fit: wall %e s, peak RSS %M KB" \
        .venv/bin/python benches/fit_large_py.py bench-out/synth_100000000_time.parquet
"""
import sys
import time

import winback

t = time.time()
model = winback.WinbackModel(order_id_col="order_id", channel_col="channel", category_col="category",
                             region_col="region", quantity_col="quantity")
model.fit(sys.argv[1], at="2023-07-01")
print(f"fit {time.time() - t:.1f} s, {len(model.groups_)} groups")
