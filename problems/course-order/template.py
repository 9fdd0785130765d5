def study_plan(n, prerequisites):
    pass
