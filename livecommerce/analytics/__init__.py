"""Show analytics: what each process counts of a show, and the results a creator reads."""
