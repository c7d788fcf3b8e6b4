"""Forms of the Add wizard and the Edit dialog. They only shape and check input; the service
checks it again (name rules, modules enabled for the account) and makes the change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict

from accounts.models import Module
from apitokens import logos, rules
from apitokens import secrets as token_secrets


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
