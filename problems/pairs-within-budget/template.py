def combos_within_budget(mains, drinks, budget):
    pass
