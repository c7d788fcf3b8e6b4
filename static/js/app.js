// tokens-admin: the little behaviour the pages need. No inline scripts anywhere (strict CSP);
// everything hooks onto data-* attributes, and every page also works without this file.
//
// htmx's history restore (the back button) replaces everything inside <body>, so nothing here
// keeps an element found earlier: listeners sit on the document (which survives) and every
// handler looks up what it needs (the dialog, the list table) when it runs.
(function () {
  "use strict";

  var returnFocus = null;   // what opened the dialog, focused again when it closes
  var focusRow = null;      // id of the list row whose menu opened it (the row may be redrawn)

  function theDialog() {
    return document.getElementById("dialog");
  }

  function closeDialog() {
    var dialog = theDialog();
    if (dialog && dialog.open) dialog.close();
  }

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

  // The list table again, as the URL describes it (after the Add wizard's Summary or a
  // rotation); on a page without the list (a token's details), the page again.
  function refreshList() {
    var table = document.getElementById("token-table");
    if (!table) { window.location.reload(); return; }
    if (!window.htmx) return;
    window.htmx.ajax("GET", window.location.pathname + window.location.search,
      {target: table, swap: "outerHTML"});
  }

  function focusHeading(el) {
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus();
  }

  // After a swap inside the dialog: the first invalid field, else the new step's heading (or
  // the dialog's title); when the dialog has just opened, its first control.
  function focusInDialog(dialog, opened) {
    var field = dialog.querySelector(".has-error");
    var invalid = field && (field.querySelector("[aria-invalid=true]") ||
      field.querySelector("input[type=file], input:not([type=hidden]):not([type=checkbox]), textarea, select") ||
      field.querySelector("input:not([type=hidden])"));
    if (invalid) {
      invalid.focus();
      return;
    }
    if (opened) {
      var first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button, a[href]");
      if (first) {
        first.focus();
        return;
      }
    }
    var heading = dialog.querySelector("[data-step-focus]") || dialog.querySelector("#dialog-title");
    if (heading) focusHeading(heading);
  }

  // A logo over the limit is refused here, before its bytes travel (the server checks again).
  function tooBig(input) {
    var max = parseInt(input.dataset.maxBytes || "", 10);
    return !!(max && input.files && input.files.length && input.files[0].size > max);
  }

  function fieldError(input, text) {
    var field = input.closest(".field");
    if (!field) return;
    var error = field.querySelector("[data-client-error]");
    var describedBy = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    var errorId = input.id + "_client_error";
    if (text) {
      if (!error) {
        error = document.createElement("p");
        error.className = "field-error";
        error.id = errorId;
        error.setAttribute("data-client-error", "");
        field.appendChild(error);
      }
      error.textContent = text;
      field.classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
      if (describedBy.indexOf(errorId) === -1) describedBy.push(errorId);
    } else {
      if (error) error.remove();
      // The server's errors were about the previous file: a new pick replaces them.
      field.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
      field.classList.remove("has-error");
      input.removeAttribute("aria-invalid");
      describedBy = describedBy.filter(function (id) { return id !== errorId; });
    }
    if (describedBy.length) input.setAttribute("aria-describedby", describedBy.join(" "));
    else input.removeAttribute("aria-describedby");
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLInputElement && el.type === "file" && el.dataset.maxBytes) {
      fieldError(el, tooBig(el) ? el.dataset.tooBig || "The file is too large." : "");
    }
  });

  // Capture, on window: before htmx's own submit listener on the form, so it never sends.
  window.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var big = Array.prototype.filter.call(form.querySelectorAll("input[type=file][data-max-bytes]"), tooBig)[0];
    if (!big) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    fieldError(big, big.dataset.tooBig || "The file is too large.");
    big.focus();
  }, true);

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var copy = target.closest("[data-copy-from]");
    if (copy) {
      var source = document.querySelector(copy.dataset.copyFrom);
      // A readonly field (the Summary's new value) holds its text as its value.
      if (source) copyText((source instanceof HTMLInputElement ? source.value : source.textContent).trim(), copy);
      return;
    }
    var reveal = target.closest("[data-copy-reveal]");
    if (reveal) {
      copyReveal(reveal);
      return;
    }
    var dialog = theDialog();
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
    var dialog = theDialog();
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

  // The row ⋯ menu (a <details>, so it opens without JavaScript too) with the keys of the
  // menu button pattern: Enter, Space or the arrows open it on an item; the arrows, Home and
  // End move between items; Escape closes it back to its button; so does focus leaving it.
  function menuItems(menu) {
    return Array.prototype.slice.call(menu.querySelectorAll(".menu-list a[href]"));
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var menu = target ? target.closest("details[data-menu]") : null;
    if (!menu || event.altKey || event.ctrlKey || event.metaKey) return;
    var items = menuItems(menu);
    if (!items.length) return;
    var key = event.key;
    var next = null;
    if (target === menu.querySelector("summary")) {
      if (key === "ArrowDown" || (!menu.open && (key === "Enter" || key === " "))) next = items[0];
      else if (key === "ArrowUp") next = items[items.length - 1];
      if (next) menu.open = true;
    } else {
      var index = items.indexOf(target);
      if (index === -1) return;
      if (key === "ArrowDown") next = items[(index + 1) % items.length];
      else if (key === "ArrowUp") next = items[(index - 1 + items.length) % items.length];
      else if (key === "Home") next = items[0];
      else if (key === "End") next = items[items.length - 1];
    }
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      var hadFocus = menu.contains(document.activeElement);
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary && hadFocus) summary.focus();
    });
  });

  document.addEventListener("focusout", function (event) {
    var from = event.target instanceof Element ? event.target : null;
    var menu = from ? from.closest("details[data-menu][open]") : null;
    var to = event.relatedTarget;
    // No relatedTarget: a click on nothing focusable, which the click handler deals with.
    if (menu && to instanceof Node && !menu.contains(to)) menu.open = false;
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

  // "close" does not bubble; capture sees it for every way out: Escape, a Close or Cancel
  // button, a form method=dialog, or the server's ui:close-dialog.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement) || dialog.id !== "dialog") return;
    var body = document.getElementById("dialog-body");
    var created = body ? body.querySelector("[data-refresh-list-on-close]") : null;
    if (body) body.innerHTML = "";
    if (created) refreshList();
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    returnFocus = null;
  }, true);

  document.addEventListener("ui:message", function (event) {
    showMessage(event.detail.level, event.detail.text);
  });
  document.addEventListener("ui:close-dialog", closeDialog);

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var dialog = theDialog();
    var opening = elt && elt.getAttribute && elt.getAttribute("hx-target") === "#dialog-body" &&
      !(dialog && dialog.open && dialog.contains(elt));
    if (opening) {
      var menu = elt.closest("details[data-menu]");
      returnFocus = menu ? menu.querySelector("summary") : elt;
      var row = elt.closest("tr[id]");
      focusRow = row ? row.id : null;
    } else if (elt && !(dialog && dialog.contains(elt))) {
      focusRow = null;
    }
    if (elt && elt.hasAttribute && elt.hasAttribute("data-tab")) {
      document.querySelectorAll("[data-tab]").forEach(function (tab) {
        if (tab === elt) tab.setAttribute("aria-current", "page");
        else tab.removeAttribute("aria-current");
      });
    }
  });

  // A swap that replaces the focused control (a sort header, a pager link of the list table)
  // would leave the focus on <body>: put it on the same control in the new content.
  var replacedFocus = null;

  function linkText(el) {
    return el.textContent.replace(/[\u2191\u2193]/g, "").trim();
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    replacedFocus = target && active && active !== document.body && target.contains(active) &&
      !(theDialog() && theDialog().contains(target)) ? {tag: active.tagName, text: linkText(active)} : null;
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = theDialog();
    var swapped = event.target instanceof Element ? event.target : null;
    if (replacedFocus && swapped && document.activeElement === document.body) {
      var wanted = replacedFocus;
      var same = Array.prototype.filter.call(swapped.querySelectorAll(wanted.tag), function (el) {
        return linkText(el) === wanted.text;
      })[0] || swapped.querySelector("a[href], button, input:not([type=hidden]), select");
      if (same) same.focus();
    }
    replacedFocus = null;
    if (!dialog || !swapped) return;
    if (dialog.contains(swapped)) {
      var opened = !dialog.open;
      if (opened) dialog.showModal();
      focusInDialog(dialog, opened);
    }
  });

  // A row action redraws (or removes) the row after its dialog closed and gave the focus back
  // to the row's menu: focus that menu in the new row, or the page, rather than <body>.
  document.addEventListener("htmx:afterRequest", function () {
    var dialog = theDialog();
    if (!focusRow || (dialog && dialog.open)) return;
    if (document.activeElement && document.activeElement !== document.body) return;
    var row = document.getElementById(focusRow);
    var summary = row ? row.querySelector("details[data-menu] summary") : null;
    var fallback = summary || document.getElementById("main");
    if (fallback) fallback.focus();
    focusRow = null;
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    showMessage("error", status === 403 ? "You do not have access to that." :
      status === 404 ? "That no longer exists." : "Something went wrong; please try again.");
  });

  document.addEventListener("htmx:historyRestore", function () {
    returnFocus = null;
    focusRow = null;
    setup(document);
  });

  document.addEventListener("DOMContentLoaded", function () {
    setup(document);
    if (window.htmx) window.htmx.onLoad(setup);
  });
})();
