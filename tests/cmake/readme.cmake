mpk_test(readme example)
