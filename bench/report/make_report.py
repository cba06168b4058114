#!/usr/bin/env python3
"""`make bench-report`: the benchmarks on one data set, in one run, as plots and a summary.

Runs, from BUILD (the build directory), each on its own in turn (so that none disturbs another's
figures on a small machine):
  engine   vecmesh_engine_bench --sweep: the engine beside FAISS and hnswlib, with an ef_search
           sweep of HNSW and an nprobe sweep of IVF-Flat, batch 1;
  api      vecmesh_api_bench: vecmeshd over gRPC and REST beside the engine in process;
  chroma   scripts/bench-remote BUILD chroma: vecmeshd beside a real Chroma 1.0 server (ingest and
           search), which this script's caller has installed (scripts/install-deps);
and writes into OUT (default bench/report/):
  hnsw_recall_qps.png, ivf_recall_qps.png  recall@10 against QPS (log scale), one line per system
  wire.png                                 QPS of in-process, gRPC and REST, batch 1 and 64
  chroma.png                               search QPS beside Chroma's, with recall
  ingest.png                               ingest throughput, points/s
  summary.md                               the machine, the data, every figure and ratio
                                           (each bench's own output), the plots
and rewrites the README's block between its "bench-report" markers: the plots, when and on what
machine they were made.
  *.json, *.txt                            what each bench wrote and printed; run.json: the
                                           machine, the time, the commit

Usage: make_report.py [BUILD] [--out DIR] [--points N] [--queries N] [--replot]
  --replot  draws the plots and the summary again from OUT's files of the last run, running
            nothing
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_bench(name, command, out_dir, replot):
    """Runs one benchmark, its output shown as it comes and kept in OUT/NAME.txt; its JSON.
    With `replot`, the JSON of the last run instead."""
    if replot:
        with open(os.path.join(out_dir, f"{name}.json")) as f:
            return json.load(f)
    print(f"== {name}: {' '.join(command)}", flush=True)
    with open(os.path.join(out_dir, f"{name}.txt"), "w") as text:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=ROOT)
        for line in process.stdout:
            sys.stdout.write(line)
            text.write(line)
        if process.wait() != 0:
            sys.exit(f"bench-report: {name} failed (exit {process.returncode}); see {text.name}")
    with open(os.path.join(out_dir, f"{name}.json")) as f:
        return json.load(f)


def machine():
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(kib / 2**20, 1),
            "kernel": platform.release(), "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def sweep_plot(figures, group, title, path):
    """recall@10 (x) against QPS (y, log), one line per system, each point labelled with its
    parameter (the labels of each system set apart, so that close points stay readable)."""
    points = [f for f in figures if f.get("group") == group]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for n, system in enumerate(dict.fromkeys(f["system"] for f in points)):
        line = sorted((f for f in points if f["system"] == system), key=lambda f: f["value"])
        drawn = ax.plot([f["recall"] for f in line], [f["qps"] for f in line], marker="o", label=system)
        for f in line:
            ax.annotate(str(f["value"]), (f["recall"], f["qps"]), textcoords="offset points",
                        xytext=(4 + 14 * n, 2), fontsize=7, color=drawn[0].get_color())
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second, batch 1, one thread (log scale)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bar_plot(labels, values, unit, title, path, notes=None):
    """One bar per figure, its value (and note: a recall) written on it."""
    if not values:
        sys.exit(f"bench-report: no figures for {path}: did its bench print any?")
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(labels) + 1.9))
    bars = ax.barh(labels, values, color="tab:blue")
    ax.invert_yaxis()
    for i, (bar, value) in enumerate(zip(bars, values)):
        text = f"{value:,.0f} {unit}" + (f"  ({notes[i]})" if notes and notes[i] else "")
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + text, va="center", fontsize=8)
    ax.set_xlabel(unit)
    ax.set_xlim(0, max(values) * 1.7)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def recall_note(recall):
    return f"recall@10 {recall:.3f}" if recall is not None and recall >= 0 else ""



README_BEGIN = "<!-- bench-report: begin (written by bench/report/make_report.py) -->"
README_END = "<!-- bench-report: end -->"


def update_readme(where, out):
    """The README's block between its markers: the plots, and when and on what machine."""
    readme = os.path.join(ROOT, "README.md")
    with open(readme) as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        return  # a README without the block: nothing to keep up to date
    relative = os.path.relpath(out, ROOT)
    block = (f"{README_BEGIN}\nThe latest, made on {where['date']} on {where['cpu']} ({where['cores']} cores, "
             f"{where['memory_gib']} GiB) at commit {where['commit']}, in {where['minutes']} minutes:\n\n")
    for image, caption in (("hnsw_recall_qps.png", "HNSW: recall@10 against QPS, ef_search sweep"),
                           ("ivf_recall_qps.png", "IVF-Flat: recall@10 against QPS, nprobe sweep"),
                           ("wire.png", "vecmeshd over gRPC and REST beside in-process"),
                           ("chroma.png", "vecmesh beside the real Chroma server"),
                           ("ingest.png", "Ingest throughput")):
        block += f"![{caption}]({relative}/{image})\n"
    before, rest = text.split(README_BEGIN, 1)
    after = rest.split(README_END, 1)[1]
    with open(readme, "w") as f:
        f.write(before + block + README_END + after)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", help="the build directory (not needed with --replot)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "report"))
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--replot", action="store_true")
    args = parser.parse_args()
    if not args.build and not args.replot:
        parser.error("BUILD is needed to run the benchmarks")
    out = os.path.abspath(args.out)
    build = os.path.abspath(args.build or ".")
    os.makedirs(out, exist_ok=True)
    started = datetime.datetime.now()

    engine = run_bench("engine", [f"{build}/bench/engine/vecmesh_engine_bench", "--points", str(args.points),
                                  "--queries", str(args.queries), "--sweep", "--json",
                                  os.path.join(out, "engine.json")], out, args.replot)
    api = run_bench("api", [f"{build}/bench/api/vecmesh_api_bench", "--points", str(args.points),
                            "--queries", str(args.queries), "--seconds", "3", "--wire-seconds", "1.5",
                            "--json", os.path.join(out, "api.json")], out, args.replot)
    chroma = run_bench("chroma", [os.path.join(ROOT, "scripts", "bench-remote"), build, "chroma", "--points",
                                  str(args.points // 2), "--queries", str(min(args.queries, 300)), "--json",
                                  os.path.join(out, "chroma.json")], out, args.replot)

    # The machine, the time and the commit of the run (with --replot, the last run's).
    run_path = os.path.join(out, "run.json")
    if args.replot:
        with open(run_path) as f:
            where = json.load(f)
    else:
        where = machine()
        where["minutes"] = round((datetime.datetime.now() - started).total_seconds() / 60, 1)
        with open(run_path, "w") as f:
            json.dump(where, f, indent=1)
    minutes = where["minutes"]
    on = f"{where['cores']} cores, {where['date']}"
    sweep_plot(engine["figures"], "hnsw_sweep",
               f"HNSW, {engine['points']:,} x {engine['dim']} clustered points: ef_search sweep ({on})",
               os.path.join(out, "hnsw_recall_qps.png"))
    sweep_plot(engine["figures"], "ivf_sweep",
               f"IVF-Flat, {engine['points']:,} x {engine['dim']} clustered points: nprobe sweep ({on})",
               os.path.join(out, "ivf_recall_qps.png"))

    search = [f for f in api["figures"] if f.get("group") == "search"]
    bar_plot([f"{f['mode']}, batch {f['batch']}" for f in search], [f["qps"] for f in search], "QPS",
             f"vecmeshd over the wire beside the engine in process, hnsw, {api['points']:,} points\n"
             f"({api['clients']} clients, {on})",
             os.path.join(out, "wire.png"), [recall_note(f.get("recall")) for f in search])

    chroma_search = [f for f in chroma["figures"] if f.get("group") in ("search", "floor")]
    bar_plot([f["name"] for f in chroma_search], [f["value"] for f in chroma_search], "QPS",
             f"vecmesh beside the real Chroma server, {chroma['points']:,} points, searches one at a time\n({on})",
             os.path.join(out, "chroma.png"), [recall_note(f.get("recall")) for f in chroma_search])
    ingest = [f for f in chroma["figures"] if f.get("group") == "ingest"]
    bar_plot([f["name"] for f in ingest], [f["value"] for f in ingest], "points/s",
             f"Ingest, {chroma['points']:,} x 128 points in batches of {chroma['batch']}, over REST\n({on})",
             os.path.join(out, "ingest.png"), [recall_note(f.get("recall")) for f in ingest])

    with open(os.path.join(out, "summary.md"), "w") as md:
        md.write(f"# vecmesh benchmark report\n\nMade by `make bench-report` on {where['date']} at commit "
                 f"{where['commit']}, in {minutes:.1f} minutes.\n\n")
        md.write(f"Machine: {where['cpu']}, {where['cores']} cores, {where['memory_gib']} GiB, Linux "
                 f"{where['kernel']}. Every figure of one bench was measured side by side in its run.\n\n")
        md.write(f"Data: clustered {engine['dim']}-d points (tests/support/synthetic.h), each bench drawing its "
                 f"own: {engine['points']:,} points and {engine['queries']} queries for the engine (its batch-1 "
                 f"rows and sweeps use the first {engine.get('queries_batch_1', engine['queries'])}), "
                 f"{api['points']:,} for the wire, {chroma['points']:,} for Chroma. k = 10; recall@10 "
                 "against exact search beside every QPS figure.\n\n")
        for image, caption in (("hnsw_recall_qps.png", "HNSW: recall against QPS"),
                               ("ivf_recall_qps.png", "IVF-Flat: recall against QPS"),
                               ("wire.png", "vecmeshd over gRPC and REST beside in-process"),
                               ("chroma.png", "vecmesh beside Chroma: search"),
                               ("ingest.png", "Ingest throughput")):
            md.write(f"## {caption}\n\n![{caption}]({image})\n\n")
        for name in ("engine", "api", "chroma"):
            with open(os.path.join(out, f"{name}.txt")) as text:
                md.write(f"## Every figure: {name}\n\n```\n{text.read().rstrip()}\n```\n\n")
    update_readme(where, out)
    print(f"bench-report: {out}/summary.md and its plots, in {minutes:.1f} minutes")


if __name__ == "__main__":
    main()
