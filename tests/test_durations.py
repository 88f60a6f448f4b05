import pytest

from shopfloor import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (45, 45.0),
        (2.5, 2.5),
        ("45", 45.0),
        ("45s", 45.0),
        ("30m", 1800.0),
        ("30min", 1800.0),
        ("8h", 28800.0),
        ("7d", 604800.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        (" 2 h ", 7200.0),
        ("1w", 604800.0),
        ("-5m", -300.0),
    ],
)
def test_durations_people_write(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "h", "5x", "8 hours", "1h30", True, None, [1], float("nan"), "inf"])
def test_bad_durations_say_what_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(bad)


@pytest.mark.parametrize(("seconds", "text"), [(28800, "8h"), (5400, "1h30m"), (45, "45s"), (90061, "1d1h1m1s"),
                                               (2.5, "2.5s")])
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds
