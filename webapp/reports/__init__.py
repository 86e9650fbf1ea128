"""Reports for Global admins and partner admins: Skills report, Learn analytics, skilling points."""
