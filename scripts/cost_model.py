#!/usr/bin/env python3
"""Monthly AWS bill for Rota from per-endpoint figures (stdlib only).

    python3 scripts/cost_model.py                      # bench/endpoints.json, its profile
    python3 scripts/cost_model.py --traffic 2          # everything request-driven x2
    python3 scripts/cost_model.py --duration aws       # AWS-estimated durations, not local ones
    python3 scripts/cost_model.py --arch x86_64        # Lambda x86_64 prices (default: the template's
                                                       # Architecture parameter's default, arm64)
    python3 scripts/cost_model.py --json               # machine-readable result
    python3 scripts/cost_model.py --before             # the template before the cost change

Input: bench/endpoints.json (format documented in its "_format" key). Every request-driven
line is (monthly requests x per-request quantity x unit price); the fixed lines (cache minimum,
VPC endpoint, metrics, alarms) do not move with traffic. The template settings the bill
depends on (route metrics, EMF metrics, tracing, the SSM endpoint, log bytes) are the file's
"setups": "now" (the template as it is) and "before" (before the cost change, issue 13); the
table shows both columns, --before prints the old one alone. At the end: the owner's estimate
and a sensitivity table (2x traffic, the owner's 1000 requests/s held through the peak hours,
1000 requests/s around the clock, arm64, AWS-estimated durations).

Prices: us-east-1 list prices, on-demand, without the free tier (the always-free tiers are
listed apart and subtracted in one line at the end). Each price names its source; they were
taken from the AWS pricing pages as of 2025 (no network from the build machines to re-check:
re-verify before quoting). They are in scripts/aws_prices.json, each with its page.
"""
import argparse
import json
import math
import os
import sys

HOURS_PER_MONTH = 730.0
DEFAULT_LOG_BYTES = 700  # per request, when an endpoint has no measured figure
DAYS_PER_MONTH = 30.42

# --- prices (USD, us-east-1) --------------------------------------------------------------
PRICES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws_prices.json")


def load_prices(path=PRICES_FILE):
    """{key: (USD per unit, source)} from the prices file (its "_format" says how it is written)."""
    with open(path) as f:
        pages = json.load(f)["pages"]
    return {k: (p["usd"] / p["per"], p["source"]) for page in pages for k, p in page["prices"].items()}


PRICES = load_prices()

FREE_TIER = {
    "Lambda": "1 M requests + 400 000 GB-s a month (always free)",
    "DynamoDB": "25 GB storage (always free); throughput on-demand has no free tier",
    "SQS": "1 M requests a month",
    "CloudWatch": "10 custom metrics, 10 alarms, 3 dashboards, 5 GB log ingestion+storage",
    "X-Ray": "100 000 traces recorded, 1 M retrieved a month",
    "Data transfer": "100 GB out a month",
}


def price(key):
    return PRICES[key][0]


def load(path):
    with open(path) as f:
        return json.load(f)


def shape_rps(profile, daily):
    """Average requests/s per hour of the day: `peak_hours` carry `peak_share` of the day."""
    ph, share = profile["peak_hours_per_day"], profile["peak_share_of_daily_requests"]
    peak = daily * share / (ph * 3600)
    off = daily * (1 - share) / ((24 - ph) * 3600)
    return [peak] * ph + [off] * (24 - ph)


def emf_line_bytes(function, names, published):
    """Bytes of the metrics line shared/lambda/src/metrics.rs writes for a call that recorded
    `names` (values as a warm call has them), with `published` = [(dimension keys, [(name,
    unit)])] declared in `_aws`; 0 when nothing is recorded. Both setups' lines have this
    format, so the difference between them is exact up to the values' digits."""
    if not names:
        return 0
    doc = {"service": "rota", "function": function, "request_id": "0" * 36}
    if published:
        doc["_aws"] = {"Timestamp": 1764000000000, "CloudWatchMetrics": [
            {"Namespace": "Rota", "Dimensions": [list(dims)], "Metrics": [{"Name": n, "Unit": u} for n, u in ms]}
            for dims, ms in published]}
    for n in names:
        doc[n] = 12.345678901234567 if n == "Latency" else 1.0
    return len(json.dumps(doc, separators=(",", ":"))) + 1


def log_bytes_saved(e):
    """What the EMF change takes off a typical warm call's log bytes (see setups.now.log_bytes_src)."""
    fn = e.get("function", "")
    rest = e.get("metrics_per_call", [])
    before = emf_line_bytes(fn, ["Requests", "Latency"] + rest,
                            [(("service", "function"), [("Requests", "Count"), ("Latency", "Milliseconds")]
                              + [(n, "Count") for n in rest])])
    now = emf_line_bytes(fn, rest, [(("service",), [("CacheHits", "Count")])] if "CacheHits" in rest else [])
    return before - now


def setup_of(data, setup):
    return data["setups"][setup]


def model(data, traffic=1.0, duration="local", arch="x86_64", daily_override=None, hours_override=None, setup="now"):
    prof = data["profile"]
    # An endpoint added after a setup (its "setups" list) is not priced in it.
    eps = {k: e for k, e in data["endpoints"].items() if setup in e.get("setups", [setup])}
    cfg = setup_of(data, setup)
    traced = cfg["xray_traced_functions"]
    daily = daily_override if daily_override is not None else prof["daily_active_users"] * prof["requests_per_active_user_per_day"]
    daily *= traffic
    hours = hours_override or shape_rps(prof, daily)
    monthly = daily * DAYS_PER_MONTH
    share_sum = sum(e["share"] for e in eps.values())

    lines = []  # (service, item, quantity, unit, usd)
    per_ep = []

    gb_s_price = price("lambda_gb_s_x86" if arch == "x86_64" else "lambda_gb_s_arm64")
    lam_req = lam_gbs = rru = wru = ecpu = log_bytes = resp_bytes = traced_share = 0.0
    per_fn_calls = []
    for name, e in eps.items():
        n = monthly * e["share"] / share_sum
        d = e["duration_ms_aws"] if duration == "aws" or e.get("duration_ms") is None else e["duration_ms"]
        if arch == "arm64":
            d = d * e.get("arm64_duration_factor", 1.0)
        gbs = n * math.ceil(d) / 1000.0 * e["memory_mb"] / 1024.0
        r = n * e["rru"]
        w = n * (e["wru"] + e.get("gsi_wru", 0.0))
        lam_req += n
        lam_gbs += gbs
        rru += r
        wru += w
        ecpu += n * e["redis_ecpu"]
        lb = e["log_bytes"] if e.get("log_bytes") is not None else DEFAULT_LOG_BYTES
        if cfg["log_bytes"] == "measured_minus_emf_change":
            lb -= log_bytes_saved(e)
        log_bytes += n * lb
        per_fn_calls.append(e["share"] / share_sum)
        if traced == "all" or e.get("function") in traced:
            traced_share += e["share"] / share_sum
        resp_bytes += n * e["response_bytes"]
        per_ep.append((name, n, gbs * gb_s_price + n * price("lambda_request"), r * price("ddb_rru") + w * price("ddb_wru")))

    # Cold starts: init is billed for provided.al2023 (custom runtime) functions.
    cs = prof["cold_start_share"] * lam_req
    cs_gbs = cs * prof["cold_start_init_ms"] / 1000.0 * prof["cold_start_memory_mb"] / 1024.0
    api_requests = lam_req  # every API request is one invocation

    # Background: the reminder scheduler (its runs a day: the setup's schedule) and the
    # reminder workers (BENCHMARKS.md).
    bg = data["background"]
    reminders = bg["reminders_per_day"] * DAYS_PER_MONTH
    sched_inv = cfg.get("scheduler_runs_per_day", 24) * DAYS_PER_MONTH
    worker_inv = reminders / bg["users_per_worker_invocation"]
    bg_gbs = (sched_inv * bg["scheduler_duration_ms"] + worker_inv * bg["worker_duration_ms"]) / 1000.0 * bg["memory_mb"] / 1024.0
    bg_rru = reminders * bg["rru_per_reminder"] + sched_inv * bg["scheduler_rru"]
    bg_wru = reminders * bg["wru_per_reminder"]
    sqs_req = reminders / bg["users_per_message"] * 3 + bg["sqs_idle_receives_per_month"]
    # Reminder emails (issue 22): SES per email, the claim and sent mark, the pacer's wait.
    emails = reminders * cfg.get("reminder_emails_per_reminder", 0.0)
    email_wru = emails * bg.get("email_wru", 0)
    email_gbs = emails * bg.get("email_pacing_ms", 0) / 1000.0 * bg["memory_mb"] / 1024.0
    log_bytes += worker_inv * bg["worker_log_bytes"] + sched_inv * bg["scheduler_log_bytes"]

    # Activity marker: one conditional UpdateItem per user per active hour (docs/data-model.md).
    act_wru = prof["daily_active_users"] * traffic * prof["active_hours_per_active_user"] * DAYS_PER_MONTH
    lam_inv_total = lam_req + sched_inv + worker_inv

    lines.append(("Lambda", f"requests ({lam_inv_total / 1e6:.2f} M invocations)", lam_inv_total, "requests", lam_inv_total * price("lambda_request")))
    lines.append(("Lambda", f"compute, warm ({arch}, durations: {duration})", lam_gbs, "GB-s", lam_gbs * gb_s_price))
    lines.append(("Lambda", f"compute, cold-start init ({prof['cold_start_share'] * 100:.1f} % of calls x {prof['cold_start_init_ms']} ms)", cs_gbs, "GB-s", cs_gbs * gb_s_price))
    lines.append(("Lambda", "compute, reminder scheduler + workers", bg_gbs, "GB-s", bg_gbs * gb_s_price))
    over = max(0.0, api_requests - 300e6)
    lines.append(("API Gateway", "HTTP API requests", api_requests, "requests", (api_requests - over) * price("apigw_http_first300m") + over * price("apigw_http_over300m")))
    lines.append(("DynamoDB", "read request units (API)", rru, "RRU", rru * price("ddb_rru")))
    lines.append(("DynamoDB", "write request units (API, incl. GSI writes)", wru, "WRU", wru * price("ddb_wru")))
    lines.append(("DynamoDB", "activity markers (1 per user per active hour)", act_wru, "WRU", act_wru * price("ddb_wru")))
    lines.append(("DynamoDB", "reminders (scheduler + workers)", bg_rru + bg_wru, "RU", bg_rru * price("ddb_rru") + bg_wru * price("ddb_wru")))
    gb = prof["table_gb"]
    lines.append(("DynamoDB", f"storage {gb} GB (25 GB free not subtracted here)", gb, "GB-month", gb * price("ddb_storage_gb")))
    lines.append(("DynamoDB", "point-in-time recovery", gb, "GB-month", gb * price("ddb_pitr_gb")))
    copies = prof["backup_copies_retained"]
    lines.append(("DynamoDB", f"AWS Backup: {copies} full copies retained", copies * gb, "GB-month", copies * gb * price("ddb_backup_gb")))
    lines.append(("SQS", "reminder queue: send + receive + delete, idle long polls", sqs_req, "requests", sqs_req * price("sqs_request")))
    lines.append(("SES", "reminder emails (one per reminder)", emails, "emails", emails * price("ses_email")))
    lines.append(("DynamoDB", "reminder emails: the day's claim + sent mark", email_wru, "WRU", email_wru * price("ddb_wru")))
    lines.append(("Lambda", "compute, reminder workers waiting on the SES pacer", email_gbs, "GB-s", email_gbs * gb_s_price))
    stored = max(prof["cache_gb"], price("valkey_min_gb"))
    lines.append(("ElastiCache", f"Serverless Valkey storage (billed {stored} GB)", stored * HOURS_PER_MONTH, "GB-hours", stored * HOURS_PER_MONTH * price("valkey_gb_hour")))
    lines.append(("ElastiCache", "ECPU (rate limits, cached stats)", ecpu, "ECPU", ecpu * price("valkey_ecpu")))
    access_log = api_requests * prof["access_log_bytes_per_request"]
    ingest_gb = (log_bytes + access_log) / 1e9
    lines.append(("CloudWatch", "Logs ingestion (function JSON logs + EMF + API access log)", ingest_gb, "GB", ingest_gb * price("cw_logs_ingest_gb")))
    stored_gb = ingest_gb * (prof["log_retention_days"] / DAYS_PER_MONTH) * prof["log_compression_ratio"]
    lines.append(("CloudWatch", f"Logs storage ({prof['log_retention_days']} days retention, compressed)", stored_gb, "GB-month", stored_gb * price("cw_logs_store_gb")))
    if cfg["emf"] == "per_endpoint":
        metrics = sum(e.get("emf_metrics", 0) for e in eps.values()) + bg["emf_metrics"]
        emf_label = "custom metrics via EMF (metric x {service,function})"
    else:
        # Metric-months: a metric is billed for the hours it has data (pro-rated).
        metrics = 0.0
        for m in cfg["emf"]:
            if m["series"] == "per_function":
                # Errors5xx per function: hours with at least one 5xx (Poisson at error_5xx_share).
                for share in per_fn_calls:
                    hourly = [r * 3600 * share * prof["error_5xx_share"] for r in hours]
                    metrics += sum(1 - math.exp(-x) for x in hourly) / len(hourly)
            else:
                metrics += m["series"] * m["hours_share"]
        emf_label = f"custom metrics via EMF ({len(cfg['emf'])} published names, few dimensions; metric-months)"
    lines.append(("CloudWatch", emf_label, metrics, "metrics", metrics * price("cw_metric")))
    route_metrics = cfg["api_detailed_route_metrics"]
    lines.append(("CloudWatch", "API Gateway detailed per-route metrics (DetailedMetricsEnabled)", route_metrics, "metrics", route_metrics * price("cw_metric")))
    lines.append(("CloudWatch", "alarms (template)", prof["alarms"], "alarms", prof["alarms"] * price("cw_alarm")))
    lines.append(("CloudWatch", "dashboards (template)", prof["dashboards"], "dashboards", prof["dashboards"] * price("cw_dashboard")))
    insights = cfg["dashboard_log_queries_gb"]
    lines.append(("CloudWatch", "Logs Insights scans (dashboard's 4xx/5xx-by-route widget)", insights, "GB", insights * price("cw_logs_insights_gb")))
    # X-Ray: Lambda's sampling (not configurable) is the first request each second plus 5 % of
    # the rest, taken here over all traced calls of the account; the traced functions' calls
    # are `traced_share` of the API's, plus the reminder jobs when traced (always, both setups).
    traces = sum((min(r * traced_share, 1.0) + 0.05 * max(r * traced_share - 1.0, 0.0)) * 3600 for r in hours) * DAYS_PER_MONTH
    traces += sched_inv + worker_inv
    traced_label = "all functions" if traced == "all" else f"{len(traced)} API functions ({traced_share * 100:.1f} % of calls) + reminder jobs"
    lines.append(("X-Ray", f"traces recorded (Tracing: Active on {traced_label}; 1/s + 5 %)", traces, "traces", traces * price("xray_trace")))
    retrieved = traces * prof["xray_retrieved_share"]
    lines.append(("X-Ray", "traces retrieved/scanned", retrieved, "traces", retrieved * price("xray_retrieve")))
    azs = cfg["ssm_endpoint_azs"]
    lines.append(("VPC", f"SSM interface endpoint, {azs} AZ", azs * HOURS_PER_MONTH, "AZ-hours", azs * HOURS_PER_MONTH * price("vpce_interface_hour")))
    lines.append(("VPC", "NAT gateway (none: DynamoDB gateway endpoint is free)", 0, "hours", 0.0))
    dto = resp_bytes / 1e9
    lines.append(("Data transfer", "API responses to the internet", dto, "GB", dto * price("dto_gb")))

    total = sum(l[4] for l in lines)
    return {"setup": setup, "daily_requests": daily, "monthly_requests": monthly, "hours_rps": hours, "lines": lines,
            "per_endpoint": per_ep, "total": total}


def fmt_qty(q):
    if q >= 1e9:
        return f"{q / 1e9:.2f} B"
    if q >= 1e6:
        return f"{q / 1e6:.2f} M"
    if q >= 1e4:
        return f"{q / 1e3:.1f} k"
    return f"{q:.2f}" if q < 100 else f"{q:.0f}"


def template_architecture(here):
    """The default of template.yaml's `Architecture` parameter (what a plain deploy runs on)."""
    import re
    text = open(os.path.join(here, "..", "template.yaml")).read()
    m = re.search(r"^  Architecture:\n(?:    .*\n)*?    Default: (\w+)", text, re.M)
    return m.group(1) if m else "x86_64"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", default=os.path.join(here, "..", "bench", "endpoints.json"))
    ap.add_argument("--traffic", type=float, default=1.0, help="multiply request-driven volume")
    ap.add_argument("--duration", choices=["local", "aws"], default="local",
                    help="local: warm durations measured on the local stack (moto is slower than DynamoDB: an upper bound); aws: estimated in-region")
    ap.add_argument("--arch", choices=["x86_64", "arm64"], default=None,
                    help="default: the template's Architecture (arm64); with --before, x86_64 as it was")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--before", action="store_true",
                    help="price the template as it was before the cost change (setups.before) instead of now")
    args = ap.parse_args()
    data = load(args.endpoints)
    prof = data["profile"]
    setup = "before" if args.before else "now"
    if args.arch is None:
        args.arch = "x86_64" if args.before else template_architecture(here)
    r = model(data, args.traffic, args.duration, args.arch, setup=setup)
    # Before: the template before issue 13, which ran on x86_64.
    other = None if args.before else model(data, args.traffic, args.duration, "x86_64", setup="before")
    if args.json:
        out = {k: v for k, v in r.items()}
        if other:
            out["before"] = other
        json.dump(out, sys.stdout, indent=1)
        return

    peak = max(r["hours_rps"])
    print(f"Rota monthly AWS bill, us-east-1 list prices, no free tier ({args.endpoints})")
    print(f"profile: {prof['registered_users']} users, {prof['daily_active_users']} daily active x "
          f"{prof['requests_per_active_user_per_day']} requests = {r['daily_requests']:,.0f} API requests/day "
          f"(x{args.traffic:g}), {r['monthly_requests'] / 1e6:.2f} M/month; {prof['peak_hours_per_day']} peak hours carry "
          f"{prof['peak_share_of_daily_requests'] * 100:.0f} % of them = {peak:.1f} requests/s average in the peak hours; "
          f"the owner's 500 concurrent users / {prof['peak_burst_rps']} requests/s are bursts inside them "
          f"(cost follows volume; bursts only need headroom in the limits)")
    print(f"setup: {setup} ({data['setups'][setup]['what']})")
    print()
    if other is None:
        print("| service | item | quantity | unit | USD/month |")
        print("|---|---|---:|---|---:|")
        for svc, item, q, unit, usd in r["lines"]:
            print(f"| {svc} | {item} | {fmt_qty(q)} | {unit} | {usd:,.2f} |")
        print(f"| **total** | | | | **{r['total']:,.2f}** |")
    else:
        print("| service | item (now; before when it differs) | unit | quantity before | USD before | quantity now | USD/month now |")
        print("|---|---|---|---:|---:|---:|---:|")
        for (svc, item, q, unit, usd), (_, item_b, q_b, _, usd_b) in zip(r["lines"], other["lines"]):
            label = item if item == item_b else f"{item}; before: {item_b}"
            print(f"| {svc} | {label} | {unit} | {fmt_qty(q_b)} | {usd_b:,.2f} | {fmt_qty(q)} | {usd:,.2f} |")
        print(f"| **total** | | | | **{other['total']:,.2f}** | | **{r['total']:,.2f}** |")
    print()
    print("Top endpoints by Lambda + DynamoDB cost:")
    print("| endpoint | requests/month | Lambda USD | DynamoDB USD |")
    print("|---|---:|---:|---:|")
    for name, n, lam, ddb in sorted(r["per_endpoint"], key=lambda x: -(x[2] + x[3]))[:8]:
        print(f"| {name} | {fmt_qty(n)} | {lam:,.2f} | {ddb:,.2f} |")
    print()
    lo, hi = data["owner_estimate_usd_per_month"]
    print(f"Owner's estimate: ${lo}-{hi}/month. This model: ${r['total']:,.2f}/month "
          f"({'below' if r['total'] < lo else 'inside' if r['total'] <= hi else 'above'} it).")
    print("Always-free tiers not subtracted above: " + "; ".join(f"{k}: {v}" for k, v in FREE_TIER.items()) + ".")
    print()
    print("Sensitivity:")
    print(f"| case | API requests/month | USD/month, local durations ({setup}) | USD/month, AWS-estimated durations ({setup}) |"
          + ("" if other is None else " USD/month before, local durations |"))
    print("|---|---:|---:|---:|" + ("" if other is None else "---:|"))
    ph = prof["peak_hours_per_day"]
    base_daily = prof["daily_active_users"] * prof["requests_per_active_user_per_day"]
    off_daily = base_daily * (1 - prof["peak_share_of_daily_requests"])
    burst = prof["peak_burst_rps"]
    cases = [
        ("this profile", {}),
        ("2x traffic", {"traffic": 2.0}),
        ("0.5x traffic", {"traffic": 0.5}),
        (f"owner's {burst} requests/s held through the {ph} peak hours every day",
         {"daily_override": burst * 3600 * ph + off_daily,
          "hours_override": [burst] * ph + [off_daily / ((24 - ph) * 3600)] * (24 - ph)}),
        (f"{burst} requests/s around the clock (sustained peak)",
         {"daily_override": burst * 86400.0, "hours_override": [burst] * 24}),
        (("x86_64 instead of arm64" if args.arch == "arm64" else "arm64 instead of x86_64")
         + " (same durations assumed)", {"arch": "x86_64" if args.arch == "arm64" else "arm64"}),
    ]
    for label, kw in cases:
        kw = dict(kw)
        kw.setdefault("traffic", args.traffic)
        kw.setdefault("arch", args.arch)
        loc = model(data, duration="local", setup=setup, **kw)
        aws = model(data, duration="aws", setup=setup, **kw)
        row = f"| {label} | {loc['monthly_requests'] / 1e6:,.1f} M | {loc['total']:,.2f} | {aws['total']:,.2f} |"
        if other is not None:
            before_kw = dict(kw, arch="x86_64")
            row += f" {model(data, duration='local', setup='before', **before_kw)['total']:,.2f} |"
        print(row)
    print()
    print("Prices used:")
    for k, (v, src) in PRICES.items():
        print(f"- {k} = {v:g}: {src}")


if __name__ == "__main__":
    main()
