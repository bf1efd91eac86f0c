from __future__ import annotations

import numpy as np

from reidkit.track.kalman import KalmanFilter, xyah_to_xyxy, xyxy_to_xyah


def test_box_conversions_round_trip():
    boxes = np.array([[10, 20, 50, 120], [0, 0, 3, 7]], np.float64)
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(boxes)), boxes, atol=1e-9)


def test_initiate_then_predict_without_velocity_stays_put_and_grows_uncertain():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([100.0, 50.0, 0.4, 80.0]))
    assert mean[4:].tolist() == [0, 0, 0, 0]
    pred_mean, pred_cov = kf.predict(mean, cov, dt=1)
    np.testing.assert_allclose(pred_mean, mean)
    assert np.all(np.diag(pred_cov) > np.diag(cov))
    _, cov3 = kf.predict(mean, cov, dt=3)
    assert cov3[0, 0] > pred_cov[0, 0]


def test_learns_constant_velocity_and_predicts_over_gaps():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([0.0, 100.0, 0.4, 80.0]))
    for t in range(1, 20):
        mean, cov = kf.predict(mean, cov, dt=1)
        mean, cov = kf.update(mean, cov, np.array([4.0 * t, 100.0, 0.4, 80.0]))
    assert abs(mean[4] - 4.0) < 0.3  # px per frame
    ahead, _ = kf.predict(mean, cov, dt=3)
    assert abs(ahead[0] - 4.0 * 22) < 2.0


def test_update_pulls_towards_measurement_and_shrinks_uncertainty():
    kf = KalmanFilter()
    mean, cov = kf.initiate(np.array([100.0, 50.0, 0.4, 80.0]))
    mean, cov = kf.predict(mean, cov)
    new_mean, new_cov = kf.update(mean, cov, np.array([110.0, 50.0, 0.4, 80.0]))
    assert 100.0 < new_mean[0] <= 110.0
    assert new_cov[0, 0] < cov[0, 0]
    np.testing.assert_allclose(new_cov, new_cov.T, atol=1e-9)


def test_batched_matches_single():
    kf = KalmanFilter()
    meas = np.array([[100.0, 50.0, 0.4, 80.0], [10.0, 20.0, 0.5, 40.0]])
    means, covs = kf.initiate(meas)
    means, covs = kf.predict(means, covs, dt=2)
    means, covs = kf.update(means, covs, meas + 1)
    for i in range(2):
        m, c = kf.initiate(meas[i])
        m, c = kf.predict(m, c, dt=2)
        m, c = kf.update(m, c, meas[i] + 1)
        np.testing.assert_allclose(means[i], m)
        np.testing.assert_allclose(covs[i], c)
