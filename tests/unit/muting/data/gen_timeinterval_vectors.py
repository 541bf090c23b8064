import json
import random
import sys
from datetime import datetime, timedelta, timezone

rnd = random.Random(20250)
WD = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
MO = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
ZONES = [
    "UTC",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Nope/Zone",
    "",
]


def hhmm():
    r = rnd.random()
    if r < 0.05:
        return rnd.choice(
            ["24:00", "24:01", "9:00", "00:60", "23:59", "00:00", "1:5", "ab:cd", "12:3"]
        )
    return f"{rnd.randrange(24):02d}:{rnd.choice([0, 15, 30, 45, rnd.randrange(60)]):02d}"


def one(kind):
    if kind == "weekdays":
        a, b = rnd.randrange(7), rnd.randrange(7)
        r = rnd.random()
        if r < 0.05:
            return rnd.choice(["1:3", "funday", "monday:friday:sunday", "MONDAY"])
        if r < 0.4:
            return rnd.choice([WD[a], WD[a].capitalize()])
        return f"{WD[min(a, b)]}:{WD[max(a, b)]}" if rnd.random() < 0.9 else f"{WD[a]}:{WD[b]}"
    if kind == "days_of_month":
        pool = list(range(-31, 0)) + list(range(1, 32))
        a, b = rnd.choice(pool), rnd.choice(pool)
        r = rnd.random()
        if r < 0.05:
            return rnd.choice(["0", "32", "-32", "x", "1:", "+3", "05"])
        if r < 0.3:
            return str(a)
        return f"{a}:{b}"
    if kind == "months":
        a, b = rnd.randrange(1, 13), rnd.randrange(1, 13)
        lo, hi = min(a, b), max(a, b)
        r = rnd.random()
        if r < 0.05:
            return rnd.choice(["13", "0:12", "smarch", "May"])
        if r < 0.3:
            return rnd.choice([MO[a - 1], str(a)])
        return (
            f"{rnd.choice([MO[lo - 1], str(lo)])}:{rnd.choice([MO[hi - 1], str(hi)])}"
            if rnd.random() < 0.9
            else f"{a}:{b}"
        )
    if kind == "years":
        a, b = rnd.randrange(2019, 2027), rnd.randrange(2019, 2027)
        if rnd.random() < 0.3:
            return str(a)
        return f"{min(a, b)}:{max(a, b)}" if rnd.random() < 0.9 else f"{a}:{b}"


def interval():
    d = {}
    for kind in ["weekdays", "days_of_month", "months", "years"]:
        if rnd.random() < 0.45:
            d[kind] = [one(kind) for _ in range(rnd.choice([0, 1, 1, 2, 3]))]
    if rnd.random() < 0.5:
        d["times"] = []
        for _ in range(rnd.choice([0, 1, 1, 2])):
            s, e = hhmm(), hhmm()
            if rnd.random() < 0.8 and s > e:
                s, e = e, s
            d["times"].append({"start_time": s, "end_time": e})
    if rnd.random() < 0.6:
        d["location"] = rnd.choice(ZONES)
    return d


def times():
    out = []
    for _ in range(12):
        base = datetime(rnd.randrange(2019, 2027), rnd.randrange(1, 13), 1, tzinfo=timezone.utc)
        r = rnd.random()
        if r < 0.4:  # near a month end / start
            t = base - timedelta(minutes=rnd.randrange(0, 4 * 24 * 60))
            t += timedelta(minutes=rnd.randrange(0, 3 * 24 * 60))
        else:
            t = base + timedelta(minutes=rnd.randrange(0, 31 * 24 * 60), seconds=rnd.randrange(60))
        out.append(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return out


cases = [{"interval": json.dumps(interval()), "times": times()} for _ in range(int(sys.argv[1]))]
# Hand-picked DST month-length cases.
for zone, month in [
    ("Europe/Berlin", 3),
    ("Europe/Berlin", 10),
    ("Australia/Sydney", 10),
    ("Australia/Sydney", 4),
    ("America/Santiago", 9),
    ("America/New_York", 3),
]:
    for dom in (["-1"], ["-2:-1"], ["30:31"], ["31"], ["-31:-30"]):
        ts = []
        for day in (27, 28, 29, 30, 31):
            for hour in (0, 12, 23):
                try:
                    ts.append(
                        datetime(2021, month, day, hour, 30, tzinfo=timezone.utc).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        )
                    )
                except ValueError:
                    pass
        cases.append(
            {"interval": json.dumps({"days_of_month": dom, "location": zone}), "times": ts}
        )
json.dump(cases, sys.stdout)
