# Off by one: leaves out the combos that cost exactly the budget.
def combos_within_budget(mains, drinks, budget):
    return [[p, d] for p in mains for d in drinks if p + d < budget]
