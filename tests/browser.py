"""Open a static page in headless Chromium and report what a reader would see: its images, its
console messages and a screenshot.

Speaks the DevTools protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, messages ending in
NUL), so it needs no library beyond the standard one and no network port.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@dataclass
class PageView:
    images: list[dict]  # per <img>: src prefix, complete, naturalWidth, naturalHeight
    console: list[dict] = field(default_factory=list)  # level, text
    exceptions: list[str] = field(default_factory=list)
    title: str = ""
    text: str = ""
    width: int = 0  # the document's scroll width: wider than the viewport means a reader scrolls sideways
    viewport: int = 0
    contrast: list = field(default_factory=list)  # [text, ratio] of text below 4.5:1 against its background
    headings: list = field(default_factory=list)  # the heading levels, in page order
    layout: dict = field(default_factory=dict)  # what a reader would trip over (_LAYOUT): each a list, empty when fine

    @property
    def errors(self) -> list[str]:
        return [m["text"] for m in self.console if m["level"] in ("error", "assert")] + self.exceptions

    @property
    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not i["complete"] or i["naturalWidth"] == 0]


# WCAG 2 contrast of every element's own text against the first opaque background behind it.
_CONTRAST = """() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
                                        .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                             if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3); } return [255, 255, 255]; };
  const low = [];
  for (const e of document.querySelectorAll('body *')) {
    const own = Array.from(e.childNodes).filter(n => n.nodeType === 3 && n.textContent.trim()).map(n => n.textContent.trim()).join(' ');
    if (!own || e.closest('details:not([open])')) continue;
    const [a, b] = [lum(rgb(getComputedStyle(e).color).slice(0, 3)), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push([own.slice(0, 40), Math.round(ratio * 100) / 100]);
  }
  return low;
}"""


# What the page's layout does to a reader, each a list of offenders:
# - cut_off: a box whose content is wider than the box (it scrolls inside) with no visible cue after it;
# - split_items: a list item broken over two columns (it has more than one line box in different columns);
# - shrunk_charts: a chart drawn at less than 90% of its own width (its labels shrink below readable).
_LAYOUT = """() => {
  const visible = e => e && e.offsetParent !== null && getComputedStyle(e).display !== 'none';
  const cut_off = [];
  for (const e of document.querySelectorAll('body *')) {
    const style = getComputedStyle(e);
    if (!['auto', 'scroll', 'hidden'].includes(style.overflowX) || e.scrollWidth <= e.clientWidth + 1 || !visible(e)) continue;
    let cue = false;
    for (let n = e.nextElementSibling; n && !cue; n = n.nextElementSibling) cue = n.matches('.scroll-cue') && visible(n);
    if (!cue) cut_off.push((e.querySelector('img') || e).alt || e.textContent.trim().slice(0, 40));
  }
  const split_items = Array.from(document.querySelectorAll('li')).filter(li =>
    new Set(Array.from(li.getClientRects()).map(r => Math.round(r.left))).size > 1).map(li => li.textContent.trim().slice(0, 40));
  const shrunk_charts = Array.from(document.querySelectorAll('img.chart')).filter(i =>
    i.clientWidth < 0.9 * (+i.getAttribute('width'))).map(i => [i.alt.slice(0, 40), i.clientWidth, +i.getAttribute('width')]);
  return {cut_off, split_items, shrunk_charts};
}"""


class Chromium:
    def __init__(self, executable: str | None = None, width: int = 1200, height: int = 900):
        executable = executable or find_browser()
        if executable is None:
            raise FileNotFoundError("no chromium on PATH")
        self.width, self.height = width, height  # the viewport (a headless window is at least 500 px wide)
        self.profile = tempfile.mkdtemp(prefix="pages-chromium-")
        ours_in, theirs_out = os.pipe()  # the browser writes replies on its fd 4
        theirs_in, ours_out = os.pipe()  # and reads commands on its fd 3
        arguments = [executable, "--headless", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                     "--allow-file-access-from-files", f"--user-data-dir={self.profile}",
                     f"--window-size={width},{height}", "about:blank"]
        if os.geteuid() == 0:
            arguments.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root

        def plumb():
            os.dup2(theirs_in, 3)
            os.dup2(theirs_out, 4)

        self.process = subprocess.Popen(arguments, pass_fds=(3, 4, theirs_in, theirs_out), preexec_fn=plumb,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(theirs_in)
        os.close(theirs_out)
        self._in, self._out = ours_in, ours_out
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        return self._next

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        wanted = self._send(method, params, session)
        while True:
            message = self._read()
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def view(self, page: Path, screenshot: Path | None = None, settle_s: float = 0.3) -> PageView:
        """Load ``page`` (a file), wait for its load event, and read its images and console."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(domain, session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session)
        self.events.clear()
        self.call("Page.navigate", {"url": Path(page).resolve().as_uri()}, session)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{page} did not finish loading in 30 s")
            self.events.append(self._read())
        time.sleep(settle_s)
        script = ("JSON.stringify({title: document.title, text: document.body.innerText,"
                  " images: Array.from(document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete,"
                  " naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})),"
                  " width: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth,"
                  " headings: Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6')).map(h => +h.tagName[1]),"
                  f" contrast: ({_CONTRAST})(), layout: ({_LAYOUT})()}})")
        found = json.loads(self.call("Runtime.evaluate", {"expression": script, "returnByValue": True},
                                     session)["result"]["value"])
        view = PageView(images=found["images"], title=found["title"], text=found["text"], width=found["width"],
                        viewport=found["viewport"], contrast=found["contrast"], headings=found["headings"],
                        layout=found["layout"])
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                view.console.append({"level": params.get("type"), "text": text})
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                view.console.append({"level": entry.get("level"), "text": entry.get("text", "")})
            elif method == "Runtime.exceptionThrown":
                view.exceptions.append(params.get("exceptionDetails", {}).get("text", "exception"))
        if screenshot is not None:
            metrics = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            shot = self.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": metrics["width"], "height": min(metrics["height"], 6000), "scale": 1},
            }, session)
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        self.call("Target.closeTarget", {"targetId": target})
        return view

    def close(self) -> None:
        try:
            self._send("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._in)
            os.close(self._out)
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
