# GlassBench (Jung et al., Roadmap on machine learning glassy dynamics, arXiv:2311.14752; data:
# Zenodo record 10118191, CC-BY-4.0). Temperatures whose files are not under data.path come
# through Snakemake's http storage plugin: the archive is checked (data.fetch.md5 / size), kept
# as data.path/<name>, and the files the run needs are unpacked from it. `snakemake download`
# does only that (a login node with internet; the two rules are local rules). The predictions of
# other models deposited in GlassBench's test files are scored as ours are (published_predictions)
# and compared paired with ours in the compare rule.
import os
from urllib.parse import urlparse

from equiglass import fetch as F

FETCH = config["data"]["fetch"]
PUBLISHED_KEYS = list(config["data"]["predictions"]) if SOURCE == "glassbench" else []
# deposited predictions: model name in comparisons -> their evaluation file
PUBLISHED_EVALS = {
    f"GlassBench:{k}": f"results/published/{k}.json" for k in PUBLISHED_KEYS
}


if FETCH_TEMPS:
    ARCHIVE = os.path.join(
        config["data"]["path"],
        os.path.basename(urlparse(FETCH["url"]).path) or "GlassBench.zip",
    )
    FETCH_FILES = [f for T in FETCH_TEMPS for f in IMPORT_FILES[T]]
    # the storage plugin checks the URL while planning: where its host cannot be reached (a
    # compute node, an offline machine) the download is still planned, and fails with the fix
    ONLINE = F.reachable(FETCH["url"])
    if not ONLINE:
        print(
            f"equiglass: {urlparse(FETCH['url']).netloc} cannot be reached from here: the GlassBench "
            "download is planned but runs only where it can be reached (`snakemake download` on a "
            "login node), or put the files under data.path",
            file=sys.stderr,
        )

    if ONLINE:

        storage:
            provider="http",

    rule glassbench_download:
        input:
            archive=storage.http(FETCH["url"]) if ONLINE else [],
        output:
            archive=ARCHIVE,
            record="results/glassbench/archive.json",
        log:
            "logs/glassbench/download.log",
        localrule: True
        params:
            url=FETCH["url"],
            md5=FETCH["md5"],
            size=FETCH["size"],
        run:
            F.download_step(
                input.archive or None,
                output.archive,
                output.record,
                log[0],
                params.url,
                params.md5,
                params.size,
                config["data"]["path"],
            )

    rule glassbench_unpack:
        input:
            ARCHIVE,
        output:
            FETCH_FILES,
        log:
            "logs/glassbench/unpack.log",
        localrule: True
        params:
            member=lambda w: FETCH["member"],  # {T} filled per temperature
        run:
            F.unpack_step(
                input[0],
                params.member,
                config["data"]["path"],
                {T: IMPORT_FILES[T] for T in FETCH_TEMPS},
                log[0],
            )


if SOURCE == "glassbench":

    rule download:
        input:
            [f for T in TEMPS for f in IMPORT_FILES[T]],
        localrule: True


if PUBLISHED_KEYS:

    rule published_predictions:
        input:
            [imported_file(T, s) for T in TEMPS for s in ids(T, "test")],
        output:
            list(PUBLISHED_EVALS.values()),
        log:
            "logs/published_predictions.log",
        conda:
            ENVS["analysis"]
        resources:
            **light_resources(mem_mb=4000, runtime=60),
        params:
            settings=S.dumps(S.published_predictions(config)),
            test=[
                f"{T}:T{T}/s{s}:{imported_file(T, s)}"
                for T in TEMPS
                for s in ids(T, "test")
            ],
            outputs=[f"{k}:results/published/{k}.json" for k in PUBLISHED_KEYS],
        shell:
            "python -m equiglass published-predictions --settings {params.settings:q} --test {params.test:q} "
            "--output {params.outputs:q} 2> {log}"
