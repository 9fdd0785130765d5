def group_anagrams(words):
    families = {}
    for word in words:
        key = "".join(sorted(word))
        families.setdefault(key, []).append(word)
    return [sorted(family) for family in families.values()]
