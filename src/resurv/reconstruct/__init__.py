"""Patient data reconstructed from published Kaplan–Meier curves (Guyot et al. 2012)."""
