// Placeholder so the module links before its first source lands; delete when a real .cpp exists.
