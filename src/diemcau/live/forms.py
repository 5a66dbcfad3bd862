"""Forms of the live meeting's pages: a delegate's voting code, codes added to a site."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from diemcau.live import votingcodes


class VotingCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Your voting code"),
        max_length=20,
        help_text=_("8 letters and digits, as printed on your card (the dash is optional)."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "ABCD-EFGH",
            }
        ),
    )


class AddCodesForm(forms.Form):
    count = forms.IntegerField(
        label=_("Codes to add"), min_value=1, max_value=votingcodes.MAX_ADD, initial=5
    )
