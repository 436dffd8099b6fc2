#include <iostream>

int binarySearch(const int arr[], int size, int target) {
    int low = 0;
    int high = size - 1;
    while (low <= high) {
        int mid = low + (high - low) / 2;
        if (arr[mid] == target) {
            return mid;
        }
        if (arr[mid] < target) {
            low = mid + 1;
        } else {
            high = mid - 1;
        }
    }
    return -1;
}

int main() {
    const int sorted[] = {2, 5, 8, 12, 16, 23, 38, 56, 72, 91};
    const int targets[] = {23, 7, 91, 2};
    for (int target : targets) {
        int index = binarySearch(sorted, 10, target);
        if (index >= 0) {
            std::cout << target << " found at index " << index << std::endl;
        } else {
            std::cout << target << " not found" << std::endl;
        }
    }
    return 0;
}
