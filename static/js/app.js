// tokens-admin: the little behaviour the pages need. No inline scripts anywhere (strict CSP);
// everything hooks onto data-* attributes, and every page also works without this file.
(function () {
  "use strict";

  var dialog = null;
  var returnFocus = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function showMessage(level, text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message-" + (level || "info");
    p.textContent = text;
    box.appendChild(p);
    setTimeout(function () { p.remove(); }, 8000);
  }

  function closeDialog() {
    if (dialog && dialog.open) dialog.close();
  }

  function flash(button, text) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = text;
    setTimeout(function () { button.textContent = original; }, 2000);
  }

  function copyText(text, button) {
    if (!navigator.clipboard) {
      showMessage("error", "The clipboard is not available in this browser.");
      return Promise.resolve();
    }
    return navigator.clipboard.writeText(text).then(function () {
      flash(button, "Copied");
      showMessage("success", "Copied to the clipboard.");
    }, function () {
      showMessage("error", "Could not copy to the clipboard.");
    });
  }

  function copyReveal(button) {
    var body = new URLSearchParams();
    body.set("copy", "1");
    fetch(button.dataset.copyReveal, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrfToken(), "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded"},
      body: body.toString()
    }).then(function (response) {
      return response.json().then(function (data) { return {status: response.status, data: data}; });
    }).then(function (result) {
      if (result.data && result.data.value) {
        return copyText(result.data.value, button);
      }
      if (result.data && result.data.reauth) {
        showMessage("info", "Enter your password, then copy again.");
        var show = document.querySelector("#token-value form button[type=submit]");
        if (show) show.click();
        return null;
      }
      showMessage("error", (result.data && result.data.error) || "The value could not be copied.");
      return null;
    }).catch(function () {
      showMessage("error", "The value could not be copied.");
    });
  }

  function localTimes(root) {
    var format = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) el.textContent = format.format(d);
    });
  }

  function setup(root) {
    localTimes(root);
    root.querySelectorAll("[data-hide-with-js]").forEach(function (el) { el.hidden = true; });
    root.querySelectorAll("[data-needs-js]").forEach(function (el) { el.hidden = false; });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var copy = target.closest("[data-copy-from]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copyFrom);
      if (source) copyText(source.textContent.trim(), copy);
      return;
    }
    var reveal = target.closest("[data-copy-reveal]");
    if (reveal) {
      copyReveal(reveal);
      return;
    }
    var close = target.closest("[data-close-dialog]");
    if (close && dialog && dialog.open && dialog.contains(close)) {
      event.preventDefault();
      closeDialog();
      return;
    }
    // A pick in a menu, or a click elsewhere, closes open menus.
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(target) || target.closest(".menu-list a")) menu.open = false;
    });
  });

  function focusables(root) {
    return Array.prototype.filter.call(
      root.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])"),
      function (el) { return !el.hidden && el.getClientRects().length > 0; });
  }

  // A modal <dialog> keeps Tab and Shift+Tab inside itself (the browser would let focus
  // escape to the address bar after the last control).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || !dialog || !dialog.open) return;
    var items = focusables(dialog);
    if (!items.length) return;
    var first = items[0], last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.requestSubmit();
    }
  });

  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!(el instanceof HTMLInputElement) || !el.dataset.filterList) return;
    var needle = el.value.trim().toLowerCase();
    document.querySelectorAll(el.dataset.filterList + " > li[data-filter-text]").forEach(function (li) {
      li.hidden = needle !== "" && li.dataset.filterText.indexOf(needle) === -1;
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    dialog = document.getElementById("dialog");
    setup(document);
    if (dialog) {
      dialog.addEventListener("close", function () {
        document.getElementById("dialog-body").innerHTML = "";
        if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
        returnFocus = null;
      });
    }
    document.body.addEventListener("ui:message", function (event) {
      showMessage(event.detail.level, event.detail.text);
    });
    document.body.addEventListener("ui:close-dialog", closeDialog);
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      var elt = event.detail.elt;
      if (elt && elt.getAttribute && elt.getAttribute("hx-target") === "#dialog-body") {
        returnFocus = elt.closest("details[data-menu]") ? elt.closest("details[data-menu]").querySelector("summary") : elt;
      }
      if (elt && elt.hasAttribute && elt.hasAttribute("data-tab")) {
        document.querySelectorAll("[data-tab]").forEach(function (tab) {
          if (tab === elt) tab.setAttribute("aria-current", "page");
          else tab.removeAttribute("aria-current");
        });
      }
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      if (dialog && target && (target.id === "dialog-body" || dialog.contains(target))) {
        if (!dialog.open) dialog.showModal();
        var focus = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button, a[href]");
        if (focus) focus.focus();
      }
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      var status = event.detail.xhr ? event.detail.xhr.status : 0;
      showMessage("error", status === 403 ? "You do not have access to that." :
        status === 404 ? "That no longer exists." : "Something went wrong; please try again.");
    });
    if (window.htmx) window.htmx.onLoad(setup);
  });
})();
