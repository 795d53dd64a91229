def test_seed_articles_are_present(seed_articles):
    assert len(seed_articles) == 5
