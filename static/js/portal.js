// Keyboard-first behaviour for agents. Every page works without this file; it only adds speed.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function typingIn(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) &&
      !(target.tagName === "INPUT" && /^(radio|checkbox)$/.test(target.type));
  }

  // ---- Search: arrows move through results, Enter opens the highlighted one.
  function results() {
    return Array.from(document.querySelectorAll("#results [role=option]"));
  }
  function selectedIndex(options) {
    return options.findIndex(function (option) { return option.getAttribute("aria-selected") === "true"; });
  }
  function select(options, index) {
    options.forEach(function (option, i) { option.setAttribute("aria-selected", i === index ? "true" : "false"); });
    if (options[index]) options[index].scrollIntoView({ block: "nearest" });
  }
  function onSearchKey(event) {
    var options = results();
    if (!options.length) return;
    var current = selectedIndex(options);
    if (event.key === "ArrowDown") {
      event.preventDefault();
      select(options, Math.min(options.length - 1, current + 1));
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      select(options, Math.max(0, current - 1));
    } else if (event.key === "Enter") {
      // Each option is the result's link.
      var link = options[Math.max(0, current)];
      if (link && link.href) {
        event.preventDefault();
        window.location.assign(link.href);
      }
    }
  }

  // ---- Feedback form: R/C pick the type, digits pick a reason, Enter sends.
  function showReasonsFor(form) {
    var chosen = form.querySelector("input[name=feedback_type]:checked");
    form.querySelectorAll(".reasons[data-type]").forEach(function (group) {
      var visible = !chosen || group.dataset.type === chosen.value;
      group.hidden = !visible;
      if (!visible) {
        group.querySelectorAll("input[name=reason]:checked").forEach(function (input) { input.checked = false; });
      }
    });
  }
  function setUpFeedbackForms(root) {
    root.querySelectorAll(".feedback-form").forEach(function (form) {
      if (form.dataset.ready) return;
      form.dataset.ready = "1";
      form.addEventListener("change", function (event) {
        if (event.target.name === "feedback_type") showReasonsFor(form);
      });
      showReasonsFor(form);
    });
  }
  function onFormKey(event) {
    var form = document.querySelector(".feedback-form");
    if (!form) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form.contains(event.target)) {
      // From the note too, where a plain Enter starts a new line.
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingIn(event.target)) return;
    var key = event.key.toLowerCase();
    var typeInput = form.querySelector("input[name=feedback_type][data-shortcut='" + key + "']");
    if (typeInput) {
      event.preventDefault();
      typeInput.checked = true;
      showReasonsFor(form);
      typeInput.focus();
      return;
    }
    if (/^[1-9]$/.test(event.key)) {
      // A reason's digit is its own (data-hotkey), never its place in the list: adding or
      // reordering reasons must not change what an agent's fingers send.
      // Only within the chosen type: with none chosen (a live return beside an open conversion),
      // a digit picks nothing, so habit cannot send the other type.
      var chosen = form.querySelector("input[name=feedback_type]:checked");
      var group = chosen ? form.querySelector(".reasons[data-type='" + chosen.value + "']") : null;
      var input = group ? group.querySelector("input[name=reason][data-hotkey='" + event.key + "']") : null;
      if (input) {
        event.preventDefault();
        input.checked = true;
        input.focus();
      }
      return;
    }
    if (event.key === "Enter" && form.contains(event.target) && event.target.tagName !== "BUTTON") {
      event.preventDefault();
      form.requestSubmit();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && !typingIn(event.target)) {
      var search = document.getElementById("q");
      event.preventDefault();
      if (search) { search.focus(); search.select(); } else { window.location.assign("/"); }
      return;
    }
    if (event.target.id === "q") { onSearchKey(event); return; }
    if (onUndoKey(event)) return;
    onFormKey(event);
  });

  // ---- Undo window: U takes back the newest feedback still waiting to be sent; the seconds count down.
  function onUndoKey(event) {
    if (event.key.toLowerCase() !== "u" || event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) {
      return false;
    }
    var undo = document.querySelector(".undo-form");
    if (!undo) return false;
    event.preventDefault();
    undo.requestSubmit();
    return true;
  }
  function startCountdowns(root) {
    var counters = root.querySelectorAll ? root.querySelectorAll(".countdown[data-seconds-left]") : [];
    counters.forEach(function (counter) {
      var ends = performance.now() + Number(counter.dataset.secondsLeft) * 1000;
      var timer = window.setInterval(function () {
        var left = Math.max(0, Math.ceil((ends - performance.now()) / 1000));
        counter.textContent = String(left);
        if (!left || !counter.isConnected) window.clearInterval(timer);
      }, 250);
    });
  }
  // ---- Status changes, spoken: htmx replaces whole rows, and a live region that arrives with
  // its content is not announced; one region that stays (in base.html) is.
  var knownStatus = {};
  function rowsIn(root) {
    if (root.matches && root.matches("tr[id^='feedback-']")) return [root];
    return Array.from(root.querySelectorAll ? root.querySelectorAll("tr[id^='feedback-']") : []);
  }
  function describe(row) {
    var type = row.cells.length > 1 ? row.cells[1].textContent.trim() : "";
    var message = row.querySelector(".status-message");
    return (type ? type + ": " : "") + (message ? message.textContent.trim() : "");
  }
  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    window.setTimeout(function () { region.textContent = text; }, 100);
  }
  function trackStatuses(root, speak) {
    var changed = [];
    rowsIn(root).forEach(function (row) {
      var match = /\bstatus-([a-z]+)/.exec(row.className);
      var status = match ? match[1] : "";
      if (speak && knownStatus[row.id] !== status) changed.push(describe(row));
      knownStatus[row.id] = status;
    });
    announce(changed.join(" "));
  }

  // ---- After a submit, focus goes to the new row; a row that htmx replaces keeps the focus it had.
  var focusedRowId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    focusedRowId = active && active.matches && active.matches("tr[id^='feedback-']") &&
      event.detail.target.contains(active) ? active.id : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    var sent = document.querySelector("tr[data-just-sent]");
    if (sent) {
      sent.removeAttribute("data-just-sent");
      sent.focus();
    } else if (focusedRowId) {
      var row = document.getElementById(focusedRowId);
      if (row) row.focus();
    }
    focusedRowId = null;
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUpFeedbackForms(document);
    trackStatuses(document, false);
    startCountdowns(document);
  });
  document.addEventListener("htmx:load", function (event) {
    setUpFeedbackForms(event.target);
    trackStatuses(event.target, event.target !== document.body);
    startCountdowns(event.target);
  });
})();
