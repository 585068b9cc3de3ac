"""Benchmark (c): peak memory while ingesting one 10 MB CEB message.

    .venv/bin/python bench/ingest_memory.py [--mb 10] [--tracemalloc]

Builds one valid CEB621 import list just under `--mb` megabytes (the default size cap,
SWBOT_MAX_MESSAGE_BYTES): a few thousand lines, each with a long Chinese note, so that it stays
within the parser's element cap while reaching the byte cap. It then ingests it through
`storage.ingest.Ingestor` into a fresh migrated SQLite database, as `swbot ingest` would, and
prints the process's resident memory before, its peak (VmHWM, the whole process: interpreter,
SQLAlchemy, the message, the parse tree, the ORM objects), and the growth. Also for scale, the
same for a 10 MB hostile message (deep nesting after a valid start), which must be rejected.
With `--tracemalloc`, Python-level allocation peaks too (slower).

Target: peak < 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.domain.clock import Clock
from bot.domain.identity import make_id_number
from storage.db import Database
from storage.ingest import Ingestor
from storage.migrate import upgrade
from storage.quarantine import Quarantine
from storage.vault import Keys, Vault

CLOCK = Clock.system()  # measurements run on the real clock


TARGET_MB = 200
NS = "http://www.chinaport.gov.cn/ceb"
GUID = "3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f"


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: peak only


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0), so the peak is this ingest's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


HEAD = f"""<?xml version="1.0" encoding="UTF-8"?>
<CEB621Message xmlns="{NS}" guid="{GUID}" version="1.0"><Inventory><InventoryHead>
<guid>{GUID}</guid><appType>1</appType><appTime>20250301100000</appTime><appStatus>2</appStatus>
<orderNo>BIG-ORDER-1</orderNo><ebpCode>3301964J31</ebpCode><ebpName>天猫国际</ebpName>
<ebcCode>4401962010</ebcCode><ebcName>某某跨境电子商务有限公司</ebcName><logisticsNo>JD0018734413066</logisticsNo>
<logisticsCode>1105910159</logisticsCode><logisticsName>京东物流</logisticsName><preNo>B20250301494000227</preNo>
<assureCode>330766K00Q</assureCode><invtNo>29242025I439440284</invtNo><ieFlag>I</ieFlag><declTime>20250301</declTime>
<customsCode>2924</customsCode><portCode>2924</portCode><ieDate>20250301</ieDate><buyerIdType>1</buyerIdType>
<buyerIdNumber>{make_id_number("110105", __import__("datetime").date(1980, 5, 17), 12)}</buyerIdNumber>
<buyerName>王小明</buyerName><buyerTelephone>13800138000</buyerTelephone>
<consigneeAddress>北京市朝阳区建国路88号</consigneeAddress><agentCode>3301980Z02</agentCode>
<agentName>某某报关有限公司</agentName><tradeMode>1210</tradeMode><trafMode>Y</trafMode><country>142</country>
<freight>10</freight><insuredFee>0</insuredFee><currency>142</currency><packNo>1</packNo>
<grossWeight>2.35</grossWeight><netWeight>1.90</netWeight></InventoryHead>"""
TAIL = "</Inventory></CEB621Message>"


def line(gnum: int) -> str:
    note = ("此商品为跨境电商零售进口商品，符合原产地有关质量、安全、卫生、环保、标识等标准或技术规范要求" * 25)[:1000]
    return (
        f"<InventoryList><gnum>{gnum}</gnum><itemNo>SKU-{gnum}</itemNo><gcode>1901101000</gcode>"
        f"<gname>婴儿配方奶粉{gnum}号</gname><country>116</country><currency>142</currency><qty>1</qty>"
        f"<unit>122</unit><price>1.5</price><totalPrice>1.5</totalPrice><note>{note}</note></InventoryList>"
    )


def big_list(limit: int) -> bytes:
    parts, size, gnum = [HEAD], len(HEAD.encode()) + len(TAIL), 0
    while True:
        nxt = line(gnum + 1)
        n = len(nxt.encode())
        if size + n > limit or gnum >= 9999:
            break
        parts.append(nxt)
        size += n
        gnum += 1
    parts.append(TAIL)
    return "".join(parts).encode()


def hostile(limit: int) -> bytes:
    start = HEAD.encode()
    depth = (limit - len(start)) // 3
    return start + b"<a>" * depth


async def ingest_once(work: Path, data: bytes, max_bytes: int, trace: bool) -> None:
    db = Database(f"sqlite+aiosqlite:///{work / 'mem.db'}", clock=CLOCK)
    await db.check()
    await upgrade(db)
    vault = Vault(Keys.derive(b"bench-master-secret-0123456789-abcdefghijklmnop"))
    ing = Ingestor(db, vault, Quarantine(work / "quarantine", vault, CLOCK), max_bytes=max_bytes)
    gc.collect()
    before = status_kb("VmRSS")
    reset_peak()
    if trace:
        tracemalloc.start()
    t = time.perf_counter()
    result = await ing.ingest(data, name="big.xml")
    elapsed = time.perf_counter() - t
    peak_py = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    peak = status_kb("VmHWM")
    await db.dispose()
    verdict = "MET" if peak / 1024 < TARGET_MB else "MISSED"
    print(f"  result: {result.status} ({result.reason or result.msg_type}) in {elapsed:.2f} s")
    print(f"  RSS before {before / 1024:7.1f} MB   peak {peak / 1024:7.1f} MB   growth {(peak - before) / 1024:6.1f} MB"
          f"   target peak < {TARGET_MB} MB: {verdict}")
    if peak_py is not None:
        print(f"  Python allocations peak (tracemalloc): {peak_py / 1e6:.1f} MB")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work / 'mem.db'}{suffix}").unlink(missing_ok=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=10.0, help="message size in MiB (also the size cap)")
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args()
    limit = int(args.mb * 1024 * 1024)
    work = Path(tempfile.mkdtemp(prefix="swbot-bench-"))
    try:
        data = big_list(limit)
        lines = data.count(b"<InventoryList>")
        print(f"valid CEB621: {len(data)} bytes ({len(data) / 2**20:.2f} MiB), {lines} lines, "
              f"{data.count(b'<') - data.count(b'</') - 1} elements")
        await ingest_once(work, data, limit, args.tracemalloc)
        bad = hostile(limit)
        print(f"hostile: {len(bad)} bytes, nesting after a valid head")
        await ingest_once(work, bad, limit, args.tracemalloc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
