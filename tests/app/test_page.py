"""The page in headless Chromium on the small synthetic library (no shared data needed): the timeline's
segments never overlap on screen, and a photo moment opens the photo with the person's box."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from reidkit.app.state import ServeConfig
from reidkit.index.indexer import index_media
from tests.app.conftest import RED, Running, person_jpeg, start, stop, wait
from tests.app.test_browser import _driver, _need_browser, _wait
from tests.index.test_indexer import BlobDetector, ColourEmbedder, stamp, write_scene


def search_in_page(driver: Any, url: str, photo: Path) -> None:
    """Open the search page, upload ``photo`` and wait for the result cards."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/#/")
    _wait(lambda: driver.find_elements(By.ID, "photo-input"), 20, "the search box")
    driver.find_element(By.ID, "photo-input").send_keys(str(photo))
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#cards .card"), 30, "results")


def test_timeline_lanes_and_photo_moment(running: Running, tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    crop = tmp_path / "red.jpg"
    crop.write_bytes(person_jpeg(RED))
    driver = _driver(tmp_path)
    try:
        search_in_page(driver, running.url, crop)
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


def test_moments_from_two_cameras_on_one_clock(tmp_path: Path) -> None:
    """Segments of two cameras, each stamped with when it was recorded: one row per camera on a shared
    clock, each moment placed at its recorded time (the door's 09:00:10 segment left of the hall's
    09:00:40 one, the door's 09:01:10 one right of it), the per-video timeline below."""
    _need_browser()
    from selenium.webdriver.common.by import By

    media = tmp_path / "media"
    for camera, stamps in (("door", ("09:00:10", "09:01:10")), ("hall", ("09:00:40",))):
        (media / camera).mkdir(parents=True)
        for i, stamp_time in enumerate(stamps):
            stamp(
                write_scene(media / camera / f"{camera}-{i}.mp4", n_frames=20 + 5 * i),
                f"2026-11-30T{stamp_time}Z",
            )
    index_media(media, tmp_path / "lib", detector=BlobDetector(), model=ColourEmbedder(), stride=1)
    config = ServeConfig(library=tmp_path / "lib", allow_roots=(media,), upload_dir=tmp_path / "uploads")
    state, url, handle = start(config, detector=BlobDetector(), embedder=ColourEmbedder())
    crop = tmp_path / "red.jpg"
    crop.write_bytes(person_jpeg(RED))
    driver = _driver(tmp_path)
    try:
        driver.get(url + "/#/")
        _wait(lambda: driver.find_elements(By.ID, "photo-input"), 20, "the search box")
        driver.find_element(By.ID, "photo-input").send_keys(str(crop))
        _wait(
            lambda: driver.find_elements(By.CSS_SELECTOR, "#clock-timeline .track"), 30, "the clock timeline"
        )
        rows = driver.execute_script(
            "return [...document.querySelectorAll('#clock-timeline .track')].map(t => [t.querySelector('b')"
            ".innerText, [...t.querySelectorAll('.seg')].map(s => [s.title.split(' ')[1], s.getBoundingClientRect().left])]);"
        )
        places = {name: dict(segs) for name, segs in rows}
        assert set(places) == {"door", "hall"}
        door, hall = places["door"], places["hall"]
        assert door["door-0.mp4"] < hall["hall-0.mp4"] < door["door-1.mp4"], places
        assert len(driver.find_elements(By.CSS_SELECTOR, "#timelines > .track")) == 3  # by video, too
    finally:
        driver.quit()
        stop(handle)
        state.close()


def test_show_more_upload_problems_and_the_annotated_video(running: Running, tmp_path: Path) -> None:
    """When more moments are likely than shown, the page says so and "Show more" shows them; files an
    upload could not add stay listed on the page; the annotated video downloads with progress shown."""
    _need_browser()
    from selenium.webdriver.common.by import By

    crop = tmp_path / "red.jpg"
    crop.write_bytes(person_jpeg(RED))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    driver = _driver(tmp_path)
    try:
        search_in_page(driver, running.url, crop)
        likely = len(driver.find_elements(By.CSS_SELECTOR, "#cards .card .chip.likely"))
        assert likely >= 2 and not driver.find_elements(By.ID, "show-more")
        # The same search cut to one moment fewer than are likely: the page offers the rest.
        driver.execute_script(
            f"state.top = {likely - 1}; state.result = null; showResults(state.queryId, true);"
        )
        _wait(lambda: driver.find_elements(By.ID, "show-more"), 20, "the Show more button")
        assert f"{likely - 1}+ moments" in driver.find_element(By.ID, "headline").text
        driver.find_element(By.ID, "show-more").click()
        _wait(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, "#cards .card .chip.likely")) == likely,
            20,
            "more",
        )
        assert not driver.find_elements(By.ID, "show-more")

        button = driver.find_element(By.ID, "export-video")
        assert button.text == "Annotated video: walk.mp4"  # which video it shows
        button.click()
        _wait(lambda: button.text == "Annotated video: walk.mp4" and button.is_enabled(), 60, "the video")
        assert not driver.find_element(By.ID, "message").is_displayed()

        driver.get(running.url + "/#/library")
        _wait(lambda: driver.find_elements(By.ID, "media-file"), 20, "the add-media panel")
        driver.find_element(By.ID, "media-file").send_keys(str(notes))
        _wait(lambda: driver.find_elements(By.ID, "upload-problems"), 20, "the upload problems")
        time.sleep(1.0)  # the page redraws when the library's jobs change: the list must stay
        problems = driver.find_element(By.ID, "upload-problems").text
        assert "notes.txt" in problems and "Not added (1)" in problems
    finally:
        driver.quit()


def test_an_alert_is_counted_until_seen_and_shows_the_persons_moments(fresh: Running, tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    write_scene(tmp_path / "first.mp4", n_frames=30)
    write_scene(tmp_path / "second.mp4", n_frames=20)
    with fresh.client() as client:
        for i, name in enumerate(("first.mp4", "second.mp4")):
            files = {"file": (name, (tmp_path / name).read_bytes())}
            job = client.post("/api/library/upload", files=files, data={"stride": "1"}).json()["jobs"][0]
            assert wait(client, job["id"])["status"] == "done"
            if i == 0:  # Red saved after the first file: the second one alerts
                doc = client.post("/api/search", files={"photo": ("red.jpg", person_jpeg(RED), "image/jpeg")})
                client.post("/api/watchlist", json={"query_id": doc.json()["query_id"], "name": "Red"})
        assert [a["media"] for a in client.get("/api/alerts").json()] == ["second.mp4"]
    driver = _driver(tmp_path)
    try:
        driver.get(fresh.url + "/#/")
        badge = _wait(lambda: driver.find_element(By.ID, "alert-count").is_displayed(), 20, "the badge")
        assert badge and driver.find_element(By.ID, "alert-count").text == "1"
        driver.get(fresh.url + "/#/alerts")
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#alerts .show-alert"), 20, "the alerts")
        assert not driver.find_element(By.ID, "alert-count").is_displayed()  # seen
        driver.find_element(By.CSS_SELECTOR, "#alerts .show-alert").click()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#cards .card"), 30, "Red's moments")
        names = driver.execute_script(
            "return [...document.querySelectorAll('#cards .card')].map(c => c.innerText);"
        )
        assert any("second.mp4" in n for n in names)
        driver.refresh()  # the badge stays down after a reload: seen in this browser
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#cards .card"), 30, "the results again")
        assert not driver.find_element(By.ID, "alert-count").is_displayed()
    finally:
        driver.quit()


def test_a_camera_is_stopped_started_again_and_removed_from_the_page(fresh: Running, tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    write_scene(fresh.media / "door.mp4", n_frames=150, fps=10.0)  # 15 s, played as if live
    driver = _driver(tmp_path)
    # The panel redraws whenever a job ends (a stopped camera's last segment is indexed): read and click
    # through the page's script, never through an element held across a redraw.
    status = lambda: driver.execute_script(  # noqa: E731
        "const r = document.querySelector('#cameras-table tr[data-camera]'); return r ? r.dataset.status : null;"
    )

    def click(selector: str) -> None:
        driver.execute_script(f"document.querySelector('#cameras-table {selector}').click();")

    def add(seconds: str) -> None:
        driver.execute_script(
            "document.getElementById('camera-name').value = 'Door';"
            f"document.getElementById('camera-source').value = {str(fresh.media / 'door.mp4')!r};"
            f"document.getElementById('camera-seconds').value = {seconds!r};"
            "document.getElementById('add-camera-button').click();"
        )

    try:
        driver.get(fresh.url + "/#/library")
        _wait(lambda: driver.find_elements(By.ID, "camera-name"), 20, "the cameras panel")
        add("60")
        _wait(lambda: status() == "recording", 20, "the camera recording")
        click(".camera-stop")
        _wait(lambda: status() == "stopped", 20, "the camera stopped and still listed")
        assert (
            driver.execute_script("return document.querySelector('#cameras-table .camera-start').innerText")
            == "Start"
        )
        click(".camera-start")
        _wait(lambda: status() == "recording", 20, "the camera recording again")
        click(".camera-stop")
        _wait(lambda: status() == "stopped", 20, "the camera stopped again")
        click(".remove")
        driver.switch_to.alert.accept()
        _wait(lambda: status() is None, 20, "the camera gone")
        # A wrong segment length reaches the user as the server says it, not replaced by 60.
        add("0")
        _wait(lambda: "segment length" in driver.find_element(By.ID, "message").text, 20, "the error")
        assert status() is None
        # What the user is typing survives the page's redraw (as when a job ends).
        driver.execute_script("document.getElementById('camera-name').value = 'Half typed'; showLibrary();")
        time.sleep(0.5)
        assert driver.execute_script("return document.getElementById('camera-name').value") == "Half typed"
    finally:
        driver.quit()


def test_the_people_to_pick_stay_on_them_when_the_window_is_resized(running: Running, tmp_path: Path) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    driver = _driver(tmp_path)
    try:
        driver.get(running.url + "/#/")
        _wait(lambda: driver.find_elements(By.ID, "photo-input"), 20, "the search box")
        driver.find_element(By.ID, "photo-input").send_keys(str(running.media / "still.png"))
        _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#picker .pick")) == 2, 20, "two people")
        where = (
            "const img = document.querySelector('#picker img').getBoundingClientRect();"
            "return [...document.querySelectorAll('#picker .pick')].map(p => p.getBoundingClientRect())"
            ".map(r => [(r.left - img.left) / img.width, (r.top - img.top) / img.height, r.width / img.width]);"
        )
        _wait(
            lambda: driver.execute_script("return document.querySelector('#picker img').complete"),
            10,
            "photo",
        )
        width = "return document.querySelector('#picker img').getBoundingClientRect().width"
        before, wide = driver.execute_script(where), driver.execute_script(width)
        driver.set_window_size(250, 900)  # narrower than the 320-pixel photo: it shrinks
        time.sleep(0.3)
        after = driver.execute_script(where)
        assert driver.execute_script(width) < 0.9 * wide
        for a, b in zip(before, after, strict=True):
            assert all(abs(x - y) < 0.01 for x, y in zip(a, b, strict=True)), (before, after)
    finally:
        driver.quit()


def test_the_library_page_tells_same_named_files_apart_and_folds_old_jobs(
    fresh: Running, tmp_path: Path
) -> None:
    _need_browser()
    import cv2
    from selenium.webdriver.common.by import By

    from tests.index.test_indexer import write_still

    for i, camera in enumerate(("door", "hall")):
        (fresh.media / camera).mkdir()
        still = write_still(fresh.media / camera / "000001.png")
        image = cv2.imread(str(still))
        image[0, 0] = i  # two cameras' first frames: the same name, not the same picture
        cv2.imwrite(str(still), image)
    with fresh.client() as client:
        jobs = client.post("/api/library/paths", json={"path": str(fresh.media)}).json()["jobs"]
        for job in jobs:
            assert wait(client, job["id"])["status"] == "done"
    driver = _driver(tmp_path)
    try:
        driver.get(fresh.url + "/#/library")
        _wait(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, "#media-table tr[data-media]")) == 2,
            20,
            "2 rows",
        )
        names = driver.execute_script(
            "return [...document.querySelectorAll('#media-table tr[data-media] td:first-child')].map(t => t.innerText);"
        )
        assert sorted(names) == ["door/000001.png", "hall/000001.png"]
        # A long day of camera segments: what ended is folded after the latest few, failures counted.
        shown = driver.execute_script(
            "state.jobs = Array.from({length: 12}, (_, i) => ({id: i + 1, name: `seg-${i}`, kind: 'index',"
            " status: i === 0 ? 'failed' : i === 11 ? 'running' : 'done', phase: 'detecting', message: '',"
            " progress: i === 11 ? 0.5 : 1}));"
            "renderJobs(); return [document.querySelectorAll('#jobs .job').length,"
            " document.getElementById('older-jobs').innerText, document.querySelector('#jobs .job').innerText];"
        )
        assert shown[0] == 6 and shown[1] == "6 earlier jobs not shown, 1 of them failed"
        assert "seg-11" in shown[2] and "50 %" in shown[2]  # the running one first, with its progress
    finally:
        driver.quit()


def test_a_phone_wide_page_does_not_scroll_sideways_and_the_drop_zones_take_the_keyboard(
    running: Running, tmp_path: Path
) -> None:
    _need_browser()
    from selenium.webdriver.common.by import By

    crop = tmp_path / "red.jpg"
    crop.write_bytes(person_jpeg(RED))
    driver = _driver(tmp_path)
    try:
        driver.set_window_size(390, 844)
        wide = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        for route in ("#/library", "#/alerts", "#/watchlist"):
            driver.get(running.url + "/" + route)
            _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "main .panel"), 20, route)
            time.sleep(0.3)
            assert driver.execute_script(wide) <= 1, route
        search_in_page(driver, running.url, crop)
        assert driver.execute_script(wide) <= 1, "results"
        driver.get(running.url + "/#/")
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "label.drop"), 20, "the drop zone")
        focusable = driver.execute_script(
            "return [...document.querySelectorAll('label.drop')].map(z => z.tabIndex)"
        )
        assert focusable and all(t == 0 for t in focusable)
    finally:
        driver.quit()


def test_results_follow_a_file_removed_in_another_tab(fresh: Running, tmp_path: Path) -> None:
    _need_browser()

    with fresh.client() as client:
        ids = []
        for name, frames in (("first.mp4", 30), ("second.mp4", 20)):
            write_scene(tmp_path / name, n_frames=frames)
            files = {"file": (name, (tmp_path / name).read_bytes())}
            job = client.post("/api/library/upload", files=files, data={"stride": "1"}).json()["jobs"][0]
            ids.append(wait(client, job["id"])["media_id"])
        crop = tmp_path / "red.jpg"
        crop.write_bytes(person_jpeg(RED))
        driver = _driver(tmp_path)
        try:
            search_in_page(driver, fresh.url, crop)
            cards = "return [...document.querySelectorAll('#cards .card')].map(c => c.innerText).join(' ')"
            assert "second.mp4" in driver.execute_script(cards)
            removal = client.delete(f"/api/library/media/{ids[1]}").json()["jobs"][0]  # as another tab does
            assert wait(client, removal["id"])["status"] == "done"
            _wait(lambda: "second.mp4" not in driver.execute_script(cards), 20, "the results without it")
            assert "first.mp4" in driver.execute_script(cards)
        finally:
            driver.quit()
