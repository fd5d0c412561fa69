"""Show and season figures: what each special drew and sold, minute by minute."""
