"""3GPP TR 38.901 table 7.3-1 antenna element (sector) pattern, relative to boresight (dB <= 0)."""

from __future__ import annotations

import numpy as np

SLA_V_DB = 30.0  # side-lobe level limit of the vertical cut
A_MAX_DB = 30.0  # front-to-back ratio
# Defaults for a sector whose delivery gives no beamwidths: a macro-cell panel, not a single element.
# Horizontal 65 deg: the usual 3-sector panel (3GPP TR 38.901 table 7.3-1 uses the same for an element).
# Vertical 10 deg: 3GPP TR 36.814 table A.2.1.1-2 (3D antenna pattern, theta_3dB = 10 deg); data sheets of
# 1.3-2 m macro panels give 6-12 deg, whereas 38.901's 65 deg is one element and would make tilt meaningless.
DEFAULT_H_BEAMWIDTH_DEG = 65.0
DEFAULT_V_BEAMWIDTH_DEG = 10.0


def horizontal(phi_deg: np.ndarray, beamwidth_deg: float = DEFAULT_H_BEAMWIDTH_DEG) -> np.ndarray:
    """A_H(phi) = -min(12 (phi/phi3dB)^2, Am); phi relative to the azimuth, in -180..180."""
    r = np.asarray(phi_deg) / beamwidth_deg
    return -np.minimum(12.0 * r * r, A_MAX_DB)


def vertical(theta_deg: np.ndarray, tilt_deg: float, beamwidth_deg: float = DEFAULT_V_BEAMWIDTH_DEG) -> np.ndarray:
    """A_V(theta) = -min(12 ((theta - 90 - tilt)/theta3dB)^2, SLA_V); theta is the zenith angle (90 = horizon)."""
    r = (np.asarray(theta_deg) - 90.0 - tilt_deg) / beamwidth_deg
    return -np.minimum(12.0 * r * r, SLA_V_DB)


def combined(a_h: np.ndarray, a_v: np.ndarray) -> np.ndarray:
    """A(theta, phi) = -min(-(A_H + A_V), Am)."""
    return -np.minimum(-(a_h + a_v), A_MAX_DB)


def gain(
    phi_deg: np.ndarray,
    theta_deg: np.ndarray,
    tilt_deg: float,
    h_beamwidth_deg: float = DEFAULT_H_BEAMWIDTH_DEG,
    v_beamwidth_deg: float = DEFAULT_V_BEAMWIDTH_DEG,
) -> np.ndarray:
    return combined(horizontal(phi_deg, h_beamwidth_deg), vertical(theta_deg, tilt_deg, v_beamwidth_deg))


def wrap_deg(a: np.ndarray) -> np.ndarray:
    """Angles to -180..180."""
    return (np.asarray(a) + 180.0) % 360.0 - 180.0
