"""Collectors an application might name in WIZARD_REPORT_COLLECTORS."""


def seats_used():
    return 42


def plan_name():
    return "gold"
