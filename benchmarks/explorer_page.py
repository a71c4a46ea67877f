"""The graph explorer page on a 512 x 512 photo: its size, and how fast it loads and
responds in a real browser (headless Chromium, as in ``tests/test_explorer.py``).

Usage::

    PYTHONPATH=. python benchmarks/explorer_page.py [--photo astronaut] [--out DIR]
        [--screenshot docs/images/graph_explorer.png]

Workload: ``ignn-pyg graph PHOTO`` at x2, k = 5, window 30 (the photo cropped to its
central 512 x 512: 65,536 queries, 327,680 edges), once with the random-weight VGG
embedding and once with ``--weights`` = the bundled ``ignn_x2_compact.pt``.  For each
page it prints:

* ``MB``: the size of ``explorer.html``; ``write s``: the command's wall time;
* ``load ms``: from navigation start to the page's ``data-ready`` (inflating the
  arrays, decoding the images, first drawing), as the page measures it;
* ``select ms``: median and maximum, over 30 queries selected through ``#query=``,
  of the script time of one selection (lines, side panel, histograms) plus the layout
  it forces, as the page measures it (``data-select-ms``);
* ``hover ms``: the same for 30 real pointer moves over the image (unpinned);
* ``map ms``: median time to switch to each map (first time: colour-mapping it) and draw;
* ``heap MB``: the page's JS heap afterwards (``performance.memory``).

With ``--screenshot`` it saves the browser's view of the ``--weights`` page with a
query pinned, as a palette PNG (the picture in ``docs/graph.md``).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ignn_pyg.data import load_photo  # noqa: E402
from tests.browser import browser_unavailable, headless_chromium  # noqa: E402

WEIGHTS = ROOT / "ignn_pyg" / "weights" / "ignn_x2_compact.pt"
SIDE = 512
SELECTIONS = 30


def central_crop(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if min(h, w) < side:
        raise SystemExit(f"the photo is {h}x{w}, smaller than {side}x{side}")
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def build(photo: Path, out: Path, weights: Path | None) -> float:
    command = [sys.executable, "-m", "ignn_pyg", "graph", str(photo), "--out", str(out), "--overwrite"]
    if weights is not None:
        command += ["--weights", str(weights)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - start


def measure(driver, page: Path, num_queries: int) -> dict[str, float]:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def body(name: str) -> str | None:
        return driver.execute_script(f"return document.body.dataset.{name}")

    driver.get(page.as_uri())
    WebDriverWait(driver, 120).until(lambda d: body("ready") == "true")
    result = {"load ms": float(body("readyMs"))}
    rng = np.random.default_rng(0)
    selects = []
    for query in rng.choice(num_queries, SELECTIONS, replace=False).tolist():
        driver.execute_script("location.hash = arguments[0]", f"query={query}")
        WebDriverWait(driver, 10).until(
            lambda d, query=query: (
                d.execute_script("return document.getElementById('neighbors').dataset.query") == str(query)
            )
        )
        selects.append(float(body("selectMs")))
    result["select ms"] = statistics.median(selects)
    result["select max ms"] = max(selects)

    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    overlay = driver.find_element(By.ID, "overlay")
    width, height = overlay.size["width"], overlay.size["height"]
    hovers = []
    for y, x in rng.integers(2, [height - 2, width - 2], size=(SELECTIONS, 2)).tolist():
        before = driver.execute_script("return document.getElementById('neighbors').dataset.query")
        ActionChains(driver).move_to_element_with_offset(overlay, x - width // 2, y - height // 2).perform()
        try:
            WebDriverWait(driver, 5).until(
                lambda d, before=before: (
                    d.execute_script("return document.getElementById('neighbors').dataset.query") != before
                )
            )
        except Exception:  # the pointer stayed over the same query
            continue
        hovers.append(float(body("selectMs")))
    result["hover ms"] = statistics.median(hovers)

    select = Select(driver.find_element(By.ID, "map-select"))
    switches = []
    for option in [o.get_attribute("value") for o in select.options[1:]]:
        start = driver.execute_script(
            "const t = performance.now(); const s = document.getElementById('map-select');"
            "s.value = arguments[0]; s.dispatchEvent(new Event('change'));"
            "void document.getElementById('legend').offsetHeight; return performance.now() - t;",
            option,
        )
        switches.append(float(start))
    result["map ms"] = statistics.median(switches)
    select.select_by_index(0)
    result["heap MB"] = driver.execute_script("return performance.memory.usedJSHeapSize") / 2**20
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if errors:
        raise SystemExit(f"console errors on {page}: {errors}")
    return result


def screenshot(driver, page: Path, query: int, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{page.as_uri()}#query={query}")
    WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
    png = driver.get_screenshot_as_png()
    palette = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
    palette.save(path, optimize=True)
    print(f"screenshot: {path} ({path.stat().st_size / 1e3:.0f} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="astronaut", help="an eval photo (default astronaut)")
    parser.add_argument("--out", type=Path, help="keep the study folders here (default: a temporary folder)")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the --weights page here")
    parser.add_argument(
        "--query",
        type=int,
        default=192 * 256 + 88,
        help="the query pinned in the screenshot (default: on the astronaut's mission patch)",
    )
    args = parser.parse_args()
    reason = browser_unavailable()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        photo = root / f"{args.photo}_{SIDE}.png"
        iio.imwrite(photo, central_crop(load_photo(args.photo), SIDE))
        rows = []
        with headless_chromium(1400, 1300) as driver:
            for label, weights in (("random VGG", None), (WEIGHTS.name, WEIGHTS)):
                out = root / ("study_" + ("vgg" if weights is None else "weights"))
                seconds = build(photo, out, weights)
                page = out / "explorer.html"
                row = {
                    "page": label,
                    "MB": page.stat().st_size / 1e6,
                    "write s": seconds,
                    **measure(driver, page, (SIDE // 2) ** 2),
                }
                rows.append(row)
        if args.screenshot:  # in a fresh browser: no pointer left over the image
            with headless_chromium(1400, 1300) as driver:
                screenshot(driver, root / "study_weights" / "explorer.html", args.query, args.screenshot)
    print(f"{args.photo}, {SIDE} x {SIDE} LR at x2, k = 5: {(SIDE // 2) ** 2:,} queries; headless Chromium")
    header = list(rows[0])
    print(" | ".join(f"{h:>13}" for h in header))
    for row in rows:
        print(" | ".join(f"{v:>13.2f}" if isinstance(v, float) else f"{v:>13}" for v in row.values()))


if __name__ == "__main__":
    main()
