#!/usr/bin/env bash
# Translation catalogs: extract every message into translations/messages.pot, merge it into the
# French and Traditional Chinese catalogs (new messages appear untranslated), then compile them.
# Translate the new entries in translations/<lang>/LC_MESSAGES/messages.po and run it again;
# tests/system/test_translations.py lists whatever is still missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
LANGS=(fr zh_Hant_TW)

# _l / lazy_gettext are the forms' lazy markers (the default keywords cover _, gettext, ngettext).
"$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
  --add-location=file --sort-output --project=LearnLink --version=1.0 \
  --copyright-holder=LearnLink -o translations/messages.pot .
for lang in "${LANGS[@]}"; do
  if [ -f "translations/$lang/LC_MESSAGES/messages.po" ]; then
    "$PYBABEL" -q update -i translations/messages.pot -d translations -l "$lang" \
      --no-fuzzy-matching --ignore-obsolete
  else
    "$PYBABEL" -q init -i translations/messages.pot -d translations -l "$lang"
  fi
done
"$PYBABEL" compile -d translations --statistics
