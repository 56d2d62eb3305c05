// The report's behaviour: the "failures only" filter, expanding a case to its
// artifacts, and a download link for the embedded result. Without script the
// page shows every case expanded.
(function () {
  "use strict";

  const rows = Array.from(document.querySelectorAll("tr.case"));
  const filter = document.getElementById("failures-only");
  const count = document.getElementById("case-count");

  function toggleOf(row) {
    return row.querySelector("button.toggle");
  }

  function setExpanded(row, expanded) {
    const toggle = toggleOf(row);
    toggle.setAttribute("aria-expanded", String(expanded));
    document.getElementById(toggle.getAttribute("aria-controls")).hidden = !expanded;
  }

  function applyFilter() {
    let shown = 0;
    for (const row of rows) {
      const visible = !filter.checked || row.dataset.failed === "true";
      row.hidden = !visible;
      if (!visible) {
        setExpanded(row, false);
      }
      shown += visible ? 1 : 0;
    }
    count.textContent = shown + " of " + rows.length + " shown";
  }

  for (const row of rows) {
    setExpanded(row, false);
    row.addEventListener("click", function () {
      // Selecting text in a row should not fold it.
      if (String(window.getSelection())) {
        return;
      }
      setExpanded(row, toggleOf(row).getAttribute("aria-expanded") !== "true");
    });
  }
  filter.addEventListener("change", applyFilter);
  filter.closest(".controls").hidden = false;
  applyFilter();

  const data = document.getElementById("result-data").textContent;
  const link = document.getElementById("download-json");
  link.href = URL.createObjectURL(new Blob([data], { type: "application/json" }));
  link.hidden = false;
})();
