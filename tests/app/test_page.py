"""The page in headless Chromium on the small synthetic library (no shared data needed): the timeline's
segments never overlap on screen, and a photo moment opens the photo with the person's box."""

from __future__ import annotations

import time
from pathlib import Path

from tests.app.conftest import RED, Running, person_jpeg
from tests.app.test_browser import _driver, _need_browser, _wait


def test_timeline_lanes_and_photo_moment(running: Running, tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    crop = tmp_path / "red.jpg"
    crop.write_bytes(person_jpeg(RED))
    driver = _driver(tmp_path)
    try:
        driver.get(running.url + "/#/")
        _wait(lambda: driver.find_elements(By.ID, "photo-input"), 20, "the search box")
        driver.find_element(By.ID, "photo-input").send_keys(str(crop))
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#cards .card"), 30, "results")
        driver.execute_script(
            "const s = document.getElementById('threshold'); s.value = s.min; s.dispatchEvent(new Event('input'));"
        )
        rects = driver.execute_script(
            "return [...document.querySelectorAll('.seg')].map(s => s.getBoundingClientRect())"
            ".map(r => [r.left, r.top, r.right, r.bottom]);"
        )
        assert len(rects) >= 2  # red (the whole clip) and blue (frames 10-34) overlap in time
        for i, a in enumerate(rects):
            for b in rects[i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, (a, b)
        photo = driver.execute_script(
            "return [...document.querySelectorAll('#cards .card')].find(c => c.innerText.includes('still.png'))"
            ".dataset.rank;"
        )
        driver.find_element(By.CSS_SELECTOR, f'#cards .card[data-rank="{photo}"] .thumb').click()
        _wait(lambda: driver.execute_script("const i = document.querySelector('#player img.still');"
                                            "return i && i.complete && i.naturalWidth > 0;"), 10, "the photo")  # fmt: skip
        time.sleep(0.2)
        drawn = driver.execute_script(
            "const c = document.querySelector('#player canvas'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
            "for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++; return n;"
        )
        assert drawn > 50, "no box drawn over the photo"
    finally:
        driver.quit()
