"""Forms of the Add wizard and the Edit dialog. They only shape and check input; the service
checks it again (name rules, modules enabled for the account) and makes the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from django.utils import timezone

from accounts.models import Module
from apitokens import expiry_choice, logos, networks, rules
from apitokens import secrets as token_secrets
from apitokens.lifetime import Limits, days, expiry_errors
from apitokens.rules import UNSET, Unset

# A logo the server could not store (a full disk): nothing to fix in the form, so a 507.
NOT_STORED: Final = "not_stored"


class GeneralForm(forms.Form):
    # For the browser's own size check (static/js/app.js), before the file is uploaded.
    logo_max_bytes = logos.MAX_BYTES
    logo_too_big = logos.TOO_BIG

    logo = forms.FileField(
        label="Logo",
        required=False,
        help_text=logos.HINT,
        widget=forms.ClearableFileInput(attrs={"accept": ".jpg,.jpeg,.png,image/jpeg,image/png"}),
    )
    name = forms.CharField(
        label="API token name",
        max_length=rules.NAME_MAX,
        help_text=rules.NAME_HINT,
        widget=forms.TextInput(attrs={"placeholder": "Enter API token name"}),
        error_messages={"required": "API token name is required."},
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=rules.DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"placeholder": "Enter description", "rows": 4}),
    )
    expiration = forms.ChoiceField(label="Expiration", required=False)
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        help_text="The token works until the end of that day (UTC).",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )

    allowed_ips = forms.CharField(
        label="Allowed IP addresses",
        required=False,
        strip=False,
        help_text="One address or CIDR range a line, IPv4 or IPv6. Empty: any address.",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "203.0.113.0/24", "spellcheck": "false"}
        ),
    )

    def __init__(
        self,
        *args: Any,
        limits: Limits | None = None,
        current: datetime | Unset | None = UNSET,
        now: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        """``limits``: the account's lifetime policy; ``current``: the token's expiry when
        editing (then "Keep" is offered and picked first)."""
        super().__init__(*args, **kwargs)
        self.limits = limits or Limits()
        self.now = now or timezone.now()
        self.choices = expiry_choice.Choices.under(self.limits, self.now, current=current)
        if isinstance(current, Unset):
            del self.fields["allowed_ips"]  # the wizard: set later, in Edit
        expiration = self.fields["expiration"]
        assert isinstance(expiration, forms.ChoiceField)
        expiration.choices = self.choices.options
        expiration.initial = self.choices.initial
        expiration.help_text = self._policy_hint()
        attrs = self.fields["expires_on"].widget.attrs
        attrs["min"] = self.choices.first_day.isoformat()
        if self.choices.last_day is not None:
            attrs["max"] = self.choices.last_day.isoformat()

    def _policy_hint(self) -> str:
        most = self.limits.max_lifetime_days
        if most is not None:
            return f"This account's tokens expire within {days(most)}."
        if self.limits.require_expiry:
            return "This account's tokens must expire."
        return "A token that expires limits the harm of a leaked value; rotate it before then."

    def clean(self) -> dict[str, Any]:
        """``expires_at``: the moment the choice gives now (``UNSET``: keep the current one)."""
        cleaned = super().clean() or {}
        choice = cleaned.get("expiration") or self.choices.initial
        cleaned["expiration"] = choice
        try:
            moment = expiry_choice.moment_of(
                choice, cleaned.get("expires_on"), self.now, self.limits
            )
        except ValueError as exc:
            if "expires_on" not in self.errors:
                self.add_error("expires_on", str(exc))
            return cleaned
        if not isinstance(moment, Unset):
            for problem in expiry_errors(moment, self.limits, now=self.now):
                self.add_error(
                    "expires_on" if choice == expiry_choice.CUSTOM else "expiration", problem
                )
        cleaned["expires_at"] = moment
        return cleaned

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        errors = rules.validate_fields(name=name)
        if errors:
            raise forms.ValidationError(errors["name"])
        return name

    def clean_description(self) -> str:
        description: str = self.cleaned_data["description"]
        errors = rules.validate_fields(description=description)
        if errors:
            if token_secrets.contains_value(description):
                # The form is shown again with the error: never with the value in it.
                data = QueryDict(mutable=True)
                data.update(self.data)
                data[self.add_prefix("description")] = token_secrets.replace_values(description)
                self.data = data
            raise forms.ValidationError(errors["description"])
        return description

    def clean_allowed_ips(self) -> list[str] | Unset:
        """The allowlist, one entry a line; ``UNSET`` when the form did not carry the field
        (an old tab), so saving it never clears a list nobody saw."""
        if self.add_prefix("allowed_ips") not in self.data:
            return UNSET
        lines = [line for line in self.cleaned_data["allowed_ips"].splitlines() if line.strip()]
        try:
            return networks.normalise(lines, what="Line")
        except networks.RangesRefused as exc:
            raise forms.ValidationError(exc.problems) from None

    def clean_logo(self) -> tuple[bytes, str] | None:
        upload = self.cleaned_data.get("logo")
        if not isinstance(upload, UploadedFile):
            return None
        try:
            return logos.check(upload)
        except logos.LogoRefused as exc:
            raise forms.ValidationError(str(exc)) from None


class ModulesForm(forms.Form):
    modules = forms.MultipleChoiceField(
        label="Modules", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, available: list[Module], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.available = available
        field = self.fields["modules"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(m.public_id, m.name) for m in available]

    def chosen(self) -> list[Module]:
        wanted = set(self.cleaned_data.get("modules") or [])
        return [m for m in self.available if m.public_id in wanted]
