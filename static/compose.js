// Progressive help for the compose form; everything works without it.
// Drafts survive a reload (kept in this browser only), and a selected passage of the post being
// answered can be quoted.
(function () {
  "use strict";
  var form = document.querySelector("form.compose");
  if (!form) return;
  var text = form.querySelector("textarea[name=text]");
  var subject = form.querySelector("input[name=subject]");
  var key = "listbridge-draft:" + form.getAttribute("data-draft");
  try {
    var saved = JSON.parse(localStorage.getItem(key) || "null");
    if (saved && !text.value) {
      text.value = saved.text || "";
      if (subject && !subject.value) subject.value = saved.subject || "";
    }
  } catch (e) { /* storage unavailable: no drafts */ }
  var save = function () {
    try {
      localStorage.setItem(key, JSON.stringify({ text: text.value, subject: subject ? subject.value : "" }));
    } catch (e) { /* ignore */ }
  };
  text.addEventListener("input", save);
  if (subject) subject.addEventListener("input", save);
  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (submitter && submitter.value === "post") {
      try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
    }
  });
  var button = document.getElementById("quote-selection");
  var parent = document.getElementById("parent-text");
  if (button && parent) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var selection = window.getSelection ? String(window.getSelection()) : "";
      var passage = selection.trim() || parent.textContent.trim();
      var quoted = passage.split(/\r?\n/).map(function (l) { return "> " + l; }).join("\n");
      var author = parent.getAttribute("data-author") || "";
      text.value = (text.value ? text.value + "\n\n" : "") + author + " wrote:\n" + quoted + "\n\n";
      text.focus();
      save();
    });
  }
})();
