#include <iostream>
#include <vector>

// Reads a sorted list of numbers and then queries; answers each query
// with a binary search, printing the index or where it would go.
int main() {
    int n;
    if (!(std::cin >> n) || n < 0 || n > 1000) {
        std::cout << "bad count\n";
        return 1;
    }
    std::vector<int> a(n);
    for (int i = 0; i < n; i++) std::cin >> a[i];
    int q;
    while (std::cin >> q) {
        int lo = 0, hi = n;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (a[mid] < q) lo = mid + 1;
            else hi = mid;
        }
        if (lo < n && a[lo] == q) std::cout << q << " found at index " << lo << "\n";
        else std::cout << q << " not found, would be inserted at " << lo << "\n";
    }
    return 0;
}
