"""check_record decides each distinct value of an attribute once (registry/validation.py `_Declared`): a repeated
value gets the verdict and the stored value it got the first time, and nothing else does."""

from netzatlas.registry.kinds import ANTENNA_ATTRIBUTES, CELL_ATTRIBUTES, get_kind
from netzatlas.registry.validation import check_attributes, check_record


def test_repeated_values_get_the_same_verdict_and_problems_name_each_record():
    good = {"cell_id": "1", "band": "B3", "frequency_mhz": 1842.5, "eirp_dbm": 61.0}
    for i in range(3):
        clean, problems = check_record(CELL_ATTRIBUTES, good, f"cells[{i}].")
        assert (clean, problems) == (good, [])
    bad = {"cell_id": "1", "band": "B99", "frequency_mhz": 100.0}
    for i in range(3):  # a refused value is refused again, named at the record that has it
        clean, problems = check_record(CELL_ATTRIBUTES, bad, f"cells[{i}].")
        assert [p.field for p in problems] == [f"cells[{i}].band", f"cells[{i}].frequency_mhz"]
        assert clean == {"cell_id": "1"}


def test_values_equal_across_types_are_judged_by_their_own_type():
    # 1 == 1.0 == True, but an integer, a float and a boolean are different values to the rules
    assert check_record(ANTENNA_ATTRIBUTES, {"antenna_id": "A", "operator": "o", "height_m": 30}, "")[1] == []
    clean, problems = check_record(ANTENNA_ATTRIBUTES, {"antenna_id": "A", "operator": "o", "height_m": True}, "")
    assert [p.field for p in problems] == ["height_m"] and "height_m" not in clean
    clean, _ = check_record(ANTENNA_ATTRIBUTES, {"antenna_id": "A", "operator": "o", "omnidirectional": True}, "")
    assert clean["omnidirectional"] is True
    clean, problems = check_record(ANTENNA_ATTRIBUTES, {"antenna_id": "A", "operator": "o", "omnidirectional": 1}, "")
    assert [p.field for p in problems] == ["omnidirectional"]


def test_zero_keeps_its_sign_and_integers_stay_integers():
    for tilt in (0.0, -0.0, 0.0, -0.0):
        clean, _ = check_record(ANTENNA_ATTRIBUTES, {"antenna_id": "A", "operator": "o", "mech_tilt_deg": tilt}, "")
        assert str(clean["mech_tilt_deg"]) == str(tilt)
    kind = get_kind("fiber-routes")
    for value in (48.0, 48, 48.0):  # a whole float is stored as the integer, each time
        clean, problems = check_attributes(kind, {"route_type": "cable", "fibre_count": value})
        assert problems == [] and clean["fibre_count"] == 48 and type(clean["fibre_count"]) is int
